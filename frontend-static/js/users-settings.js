// Settings → Staff: lists the clinic's staff, changes roles, deactivates and reactivates, adds
// staff members (with a password or an invite link) and makes password reset links, all
// through /api/tenant/users. A link is shown once, until "I have passed it on". Owners also
// switch the clinic-wide two-step login requirement (/api/tenant/settings).
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, wireCopyButtons, element } = window.ClinicGate;
  const root = document.getElementById("users-root");
  const myRole = root.dataset.myRole;
  const body = document.getElementById("users-body");
  const tableError = document.getElementById("users-error");
  const form = document.getElementById("add-user-form");
  const done = document.getElementById("add-user-done");
  const roles = [["owner", "Owner"], ["admin", "Admin"], ["clinician", "Clinician"]];
  const panel = document.getElementById("link-panel");
  const link = document.getElementById("password-link");
  // With an SMTP relay the page offers to e-mail links; the link is shown either way.
  const mail = root.dataset.mail === "on";
  document.querySelectorAll("[data-needs-mail]").forEach((node) => { node.hidden = !mail; });
  const emailed = (issued, to) => (issued.emailed ? " It has also been e-mailed to " + to + "." : "");

  function reveal(issued, lead) {
    document.getElementById("link-lead").textContent = lead;
    link.textContent = issued.url;
    document.getElementById("link-expiry").textContent = new Date(issued.expires_at).toLocaleString();
    panel.hidden = false;
    panel.scrollIntoView({ block: "start" });
    panel.querySelector("[data-copy]").focus();
  }

  document.getElementById("link-done").addEventListener("click", () => {
    link.textContent = "";
    panel.hidden = true;
  });

  // Admins may not create, promote or change owners: hide what the server would refuse.
  if (myRole !== "owner") {
    form.querySelector('option[value="owner"]').remove();
  }

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The change failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  async function change(user, patch) {
    show(tableError, "");
    const result = await api("PATCH", "/api/tenant/users/" + user.id, patch);
    if (!result.ok) show(tableError, problemText(result));
    await load();
  }

  function row(user) {
    const locked = myRole !== "owner" && user.role === "owner";
    const select = element("select", { "aria-label": "Role of " + user.email });
    roles.forEach(([value, label]) => {
      if (value === "owner" && myRole !== "owner" && user.role !== "owner") return;
      const option = element("option", { value, text: label });
      if (value === user.role) option.selected = true;
      select.append(option);
    });
    select.disabled = locked;
    select.addEventListener("change", () => change(user, { role: select.value }));

    const toggle = element("button", {
      type: "button",
      className: user.active ? "button button-danger button-small" : "button button-secondary button-small",
      text: user.active ? "Deactivate" : "Reactivate",
      "aria-label": (user.active ? "Deactivate " : "Reactivate ") + user.email,
    });
    toggle.disabled = locked;
    toggle.addEventListener("click", async () => {
      if (user.active) {
        if (!window.confirm("Deactivate " + user.email + "? They are logged out everywhere and can no longer log in.")) return;
        show(tableError, "");
        const result = await api("DELETE", "/api/tenant/users/" + user.id);
        if (!result.ok) show(tableError, problemText(result));
        await load();
      } else {
        await change(user, { active: true });
      }
    });

    const reset = element("button", {
      type: "button",
      className: "button button-secondary button-small",
      text: "Reset link",
      "aria-label": "Make a password reset link for " + user.email,
    });
    reset.disabled = locked || !user.active;
    reset.addEventListener("click", async () => {
      show(tableError, "");
      const sendEmail = mail && document.getElementById("send-reset-email").checked;
      const result = await api("POST", "/api/tenant/users/" + user.id + "/password-reset", { send_email: sendEmail });
      if (!result.ok) {
        show(tableError, problemText(result));
        return;
      }
      reveal(result.body, "Send this password reset link to " + user.email + ". Any older link of theirs no longer works." + emailed(result.body, user.email));
    });

    return element("tr", { "data-user-id": user.id }, [
      element("td", { text: user.display_name || "" }),
      element("td", { className: "email", text: user.email }),
      element("td", {}, [select]),
      element("td", {}, [element("span", { className: user.active ? "pill pill-on" : "pill pill-off", text: user.active ? "Active" : "Deactivated" })]),
      element("td", { className: "row-actions" }, [reset, toggle]),
    ]);
  }

  async function load() {
    const result = await api("GET", "/api/tenant/users");
    if (!result.ok) {
      show(tableError, problemText(result));
      return;
    }
    body.replaceChildren(...result.body.map(row));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    show(done, "");
    const password = form.elements.namedItem("password").value;
    const result = await api("POST", "/api/tenant/users", {
      email: form.elements.namedItem("email").value.trim(),
      role: form.elements.namedItem("role").value,
      display_name: form.elements.namedItem("display_name").value.trim() || null,
      password: password || null,
      send_invite_email: mail && form.elements.namedItem("send_invite_email").checked,
    });
    if (result.ok) {
      form.reset();
      if (result.body.invite) {
        show(done, result.body.email + " is added and chooses a password through the invite link.");
        reveal(result.body.invite, "Send this invite link to " + result.body.email + ": they choose their password there." + emailed(result.body.invite, result.body.email));
      } else {
        show(done, result.body.email + " can now log in.");
      }
      await load();
      return;
    }
    showProblem(form, result, "new-", {
      email_taken: { field: "email", message: "Someone in this clinic already uses this e-mail address." },
    });
  });

  const mfaRequired = document.getElementById("mfa-required");
  const mfaError = document.getElementById("mfa-policy-error");
  const mfaDone = document.getElementById("mfa-policy-done");

  async function loadMfaPolicy() {
    const result = await api("GET", "/api/tenant/settings");
    if (!result.ok) {
      show(mfaError, problemText(result));
      return;
    }
    mfaRequired.checked = result.body.mfa_required;
    mfaRequired.disabled = myRole !== "owner";
  }

  mfaRequired.addEventListener("change", async () => {
    show(mfaError, "");
    show(mfaDone, "");
    const wanted = mfaRequired.checked;
    const result = await api("PATCH", "/api/tenant/settings", { mfa_required: wanted });
    if (!result.ok) {
      mfaRequired.checked = !wanted;
      show(mfaError, problemText(result));
      return;
    }
    show(mfaDone, wanted ? "Every staff member now needs two-step login." : "Two-step login is optional again.");
  });

  wireCopyButtons();
  load();
  loadMfaPolicy();
})();
