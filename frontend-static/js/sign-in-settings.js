// Settings → Sign-in: the clinic's single sign-on through /api/tenant/sso. The client secret is
// write-only (the API never returns it). Owners change it; admins see it read-only.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, wireCopyButtons } = window.ClinicGate;
  const root = document.getElementById("sign-in-root");
  const owner = root.dataset.myRole === "owner";
  const form = document.getElementById("sso-form");
  const status = document.getElementById("sso-status");
  const saved = document.getElementById("sso-saved");
  const remove = document.getElementById("sso-remove");
  const field = (name) => form.elements.namedItem(name);

  function render(sso) {
    document.getElementById("sso-redirect-uri").textContent = sso.redirect_uri;
    field("issuer").value = sso.issuer || "";
    field("client_id").value = sso.client_id || "";
    field("client_secret").value = "";
    field("client_secret").required = !sso.client_secret_set;
    field("provider_name").value = sso.provider_name || "";
    field("sso_only").checked = sso.sso_only;
    remove.hidden = !sso.configured || !owner;
    show(status, sso.configured
      ? "Single sign-on is on: the login page shows “Sign in with " + sso.provider_name + "”" + (sso.sso_only ? ", and only owners can log in with a password." : ".")
      : "Single sign-on is off: staff log in with their passwords.");
    if (!owner) {
      form.querySelectorAll("input, button").forEach((el) => { el.disabled = true; });
    }
  }

  async function load() {
    const result = await api("GET", "/api/tenant/sso");
    if (result.ok) render(result.body);
    else showProblem(form, result, "sso-");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    show(saved, "");
    const secret = field("client_secret").value;
    const result = await api("PUT", "/api/tenant/sso", {
      issuer: field("issuer").value.trim(),
      client_id: field("client_id").value.trim(),
      client_secret: secret || null,
      provider_name: field("provider_name").value.trim() || null,
      sso_only: field("sso_only").checked,
    });
    if (result.ok) {
      render(result.body);
      show(saved, "Saved.");
    } else {
      showProblem(form, result, "sso-");
    }
  });

  remove.addEventListener("click", async () => {
    if (!window.confirm("Remove single sign-on? Everyone logs in with a password again.")) return;
    clearErrors(form);
    const result = await api("DELETE", "/api/tenant/sso");
    if (result.ok) {
      await load();
      show(saved, "Single sign-on removed.");
    } else {
      showProblem(form, result, "sso-");
    }
  });

  wireCopyButtons(root);
  load();
})();
