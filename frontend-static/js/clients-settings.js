// Settings → API clients: lists the clinic's clients, creates them (showing the secret once),
// rotates secrets and deletes clients, all through /api/tenant/clients.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, wireCopyButtons, element } = window.ClinicGate;
  const body = document.getElementById("clients-body");
  const tableError = document.getElementById("clients-error");
  const form = document.getElementById("create-client-form");
  const panel = document.getElementById("secret-panel");
  const secret = document.getElementById("new-secret");
  const grace = document.getElementById("secret-grace");

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The request failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  // Shows a secret once; "I have stored it" removes it from the page.
  function reveal(client, graceUntil) {
    document.getElementById("secret-client-name").textContent = client.name;
    document.getElementById("secret-client-id").textContent = client.client_id;
    secret.textContent = client.client_secret;
    show(grace, graceUntil ? "The previous secret keeps working until " + new Date(graceUntil).toLocaleString() + "." : "");
    panel.hidden = false;
    panel.scrollIntoView({ block: "start" });
    panel.querySelector("[data-copy]").focus();
  }

  document.getElementById("secret-done").addEventListener("click", () => {
    secret.textContent = "";
    panel.hidden = true;
  });

  function row(client) {
    const rotate = element("button", {
      type: "button",
      className: "button button-secondary button-small",
      text: "Rotate secret",
      "aria-label": "Rotate the secret of " + client.name,
    });
    rotate.addEventListener("click", async () => {
      if (!window.confirm("Give " + client.name + " a new secret? The current one keeps working for a grace period.")) return;
      show(tableError, "");
      const result = await api("POST", "/api/tenant/clients/" + encodeURIComponent(client.client_id) + "/rotate-secret");
      if (!result.ok) {
        show(tableError, problemText(result));
        return;
      }
      reveal(result.body, result.body.previous_secret_expires_at);
      await load();
    });
    const remove = element("button", {
      type: "button",
      className: "button button-danger button-small",
      text: "Delete",
      "aria-label": "Delete " + client.name,
    });
    remove.addEventListener("click", async () => {
      if (!window.confirm("Delete " + client.name + "? Its secret and every token it holds stop working at once.")) return;
      show(tableError, "");
      const result = await api("DELETE", "/api/tenant/clients/" + encodeURIComponent(client.client_id));
      if (!result.ok) show(tableError, problemText(result));
      await load();
    });
    const scopes = element("td", {}, client.scopes.map((scope) => element("code", { className: "scope", text: scope })));
    return element("tr", { "data-client-id": client.client_id }, [
      element("td", { text: client.name }),
      element("td", {}, [element("code", { className: "wrap", text: client.client_id })]),
      scopes,
      element("td", { text: client.rate_limit_per_minute ? client.rate_limit_per_minute + "/min" : "Default" }),
      element("td", { className: "row-actions" }, [rotate, remove]),
    ]);
  }

  async function load() {
    const result = await api("GET", "/api/tenant/clients");
    if (!result.ok) {
      show(tableError, problemText(result));
      return;
    }
    if (result.body.length === 0) {
      body.replaceChildren(element("tr", {}, [element("td", { colspan: "5", className: "muted", text: "No API clients yet." })]));
      return;
    }
    body.replaceChildren(...result.body.map(row));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const limit = form.elements.namedItem("rate_limit_per_minute").value.trim();
    if (limit && !/^[0-9]+$/.test(limit)) {
      showProblem(form, { status: 422, body: { errors: [{ field: "rate_limit_per_minute", message: "Enter a whole number of requests per minute, or leave it empty." }] } }, "client-");
      return;
    }
    const scopes = Array.from(form.querySelectorAll('input[name="scopes"]:checked')).map((box) => box.value);
    const result = await api("POST", "/api/tenant/clients", {
      name: form.elements.namedItem("name").value.trim(),
      scopes,
      rate_limit_per_minute: limit ? Number(limit) : null,
    });
    if (result.ok) {
      form.reset();
      reveal(result.body, null);
      await load();
      return;
    }
    showProblem(form, result, "client-");
  });

  wireCopyButtons();
  load();
})();
