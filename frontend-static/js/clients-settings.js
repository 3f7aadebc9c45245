// Settings → API clients: lists the clinic's clients, creates them (showing the secret once),
// edits their scopes, rate limit and share of the Cliniko budget, rotates secrets, suspends and resumes and deletes clients,
// all through /api/tenant/clients; and the clinic-wide kill-switch with its history, through
// /api/tenant/integrations.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, wireCopyButtons, element } = window.ClinicGate;
  const body = document.getElementById("clients-body");
  const tableError = document.getElementById("clients-error");
  const form = document.getElementById("create-client-form");
  const panel = document.getElementById("secret-panel");
  const secret = document.getElementById("new-secret");
  const grace = document.getElementById("secret-grace");
  const killSwitch = document.getElementById("kill-switch");
  const killSwitchState = document.getElementById("kill-switch-state");
  const killSwitchError = document.getElementById("kill-switch-error");
  const history = document.getElementById("suspension-history");
  // Client names by id, for the history (a deleted client shows its id).
  const names = new Map();
  const editPanel = document.getElementById("edit-panel");
  const editForm = document.getElementById("edit-client-form");
  let editing = null;

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

  // The rate limit field: `{ value }` (null = the default) or, for text that is not a whole
  // number, the field error shown under it and `null`.
  function rateLimit(target, prefix) {
    const limit = target.elements.namedItem("rate_limit_per_minute").value.trim();
    if (limit && !/^[0-9]+$/.test(limit)) {
      showProblem(target, { status: 422, body: { errors: [{ field: "rate_limit_per_minute", message: "Enter a whole number of requests per minute, or leave it empty." }] } }, prefix);
      return null;
    }
    return { value: limit ? Number(limit) : null };
  }

  // The budget share field: `{ value }` (null = no cap) or, for anything but a whole number from
  // 1 to 100, the field error shown under it and `null`.
  function budgetShare(target, prefix) {
    const share = target.elements.namedItem("cliniko_budget_share").value.trim();
    if (share && (!/^[0-9]+$/.test(share) || Number(share) < 1 || Number(share) > 100)) {
      showProblem(target, { status: 422, body: { errors: [{ field: "cliniko_budget_share", message: "Enter a whole percentage from 1 to 100, or leave it empty for no cap." }] } }, prefix);
      return null;
    }
    return { value: share ? Number(share) : null };
  }

  function checkedScopes(target) {
    return Array.from(target.querySelectorAll('input[name="scopes"]:checked')).map((box) => box.value);
  }

  function openEditor(client) {
    editing = client;
    clearErrors(editForm);
    document.getElementById("edit-client-name").textContent = client.name;
    editForm.querySelectorAll('input[name="scopes"]').forEach((box) => {
      box.checked = client.scopes.includes(box.value);
    });
    editForm.elements.namedItem("rate_limit_per_minute").value = client.rate_limit_per_minute || "";
    editForm.elements.namedItem("cliniko_budget_share").value = client.cliniko_budget_share || "";
    editPanel.hidden = false;
    editPanel.scrollIntoView({ block: "start" });
    editForm.querySelector('input[name="scopes"]').focus();
  }

  function closeEditor() {
    editing = null;
    editPanel.hidden = true;
  }

  document.getElementById("edit-cancel").addEventListener("click", closeEditor);

  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(editForm);
    const limit = rateLimit(editForm, "edit-");
    if (!limit || !editing) return;
    const share = budgetShare(editForm, "edit-");
    if (!share) return;
    const result = await api("PATCH", "/api/tenant/clients/" + encodeURIComponent(editing.client_id), {
      scopes: checkedScopes(editForm),
      rate_limit_per_minute: limit.value,
      cliniko_budget_share: share.value,
    });
    if (result.ok) {
      closeEditor();
      await load();
      return;
    }
    showProblem(editForm, result, "edit-");
  });

  function row(client) {
    const edit = element("button", {
      type: "button",
      className: "button button-secondary button-small",
      text: "Edit",
      "aria-label": "Edit the scopes and rate limit of " + client.name,
    });
    edit.addEventListener("click", () => openEditor(client));
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
    const suspended = Boolean(client.suspended_at);
    const toggle = element("button", {
      type: "button",
      className: suspended ? "button button-secondary button-small" : "button button-danger button-small",
      text: suspended ? "Resume" : "Suspend",
      "aria-label": (suspended ? "Resume " : "Suspend ") + client.name,
    });
    toggle.addEventListener("click", async () => {
      const question = suspended
        ? "Resume " + client.name + "? Its tokens work again and held webhooks are sent, oldest first."
        : "Suspend " + client.name + "? Its tokens are refused at once and its webhooks are held until you resume it.";
      if (!window.confirm(question)) return;
      show(tableError, "");
      const action = suspended ? "/resume" : "/suspend";
      const result = await api("POST", "/api/tenant/clients/" + encodeURIComponent(client.client_id) + action);
      if (!result.ok) show(tableError, problemText(result));
      await load();
    });
    const status = suspended
      ? element("span", { className: "badge badge-suspended", title: "Since " + new Date(client.suspended_at).toLocaleString(), text: "Suspended" })
      : element("span", { className: "badge", text: "Active" });
    const scopes = element("td", {}, client.scopes.map((scope) => element("code", { className: "scope", text: scope })));
    return element("tr", { "data-client-id": client.client_id }, [
      element("td", { text: client.name }),
      element("td", {}, [element("code", { className: "wrap", text: client.client_id })]),
      scopes,
      element("td", {
        text:
          (client.rate_limit_per_minute ? client.rate_limit_per_minute + "/min" : "Default") +
          (client.cliniko_budget_share ? " · at most " + client.cliniko_budget_share + "% of the Cliniko budget" : ""),
      }),
      element("td", {}, [status]),
      element("td", { className: "row-actions" }, [edit, toggle, rotate, remove]),
    ]);
  }

  function historyItem(event) {
    const what = event.client_id ? names.get(event.client_id) || event.client_id : "All integrations";
    const verb = event.action === "suspend" ? "suspended" : "resumed";
    const who = event.actor_email || "a former staff member";
    return element("li", {}, [
      element("time", { datetime: event.at, text: new Date(event.at).toLocaleString() }),
      " — " + what + " " + verb + " by " + who,
    ]);
  }

  async function loadSuspensions() {
    const result = await api("GET", "/api/tenant/integrations/suspensions");
    if (!result.ok) {
      show(killSwitchError, problemText(result));
      return;
    }
    const since = result.body.suspended_at;
    killSwitchState.replaceChildren(
      since
        ? element("span", { className: "badge badge-suspended", text: "Suspended since " + new Date(since).toLocaleString() })
        : element("span", { className: "badge", text: "Running" }),
    );
    killSwitch.textContent = since ? "Resume all integrations" : "Suspend all integrations";
    killSwitch.className = since ? "button" : "button button-danger";
    killSwitch.dataset.action = since ? "resume" : "suspend";
    killSwitch.hidden = false;
    history.replaceChildren(
      ...(result.body.history.length ? result.body.history.map(historyItem) : [element("li", { className: "muted", text: "Nothing suspended yet." })]),
    );
  }

  killSwitch.addEventListener("click", async () => {
    const resume = killSwitch.dataset.action === "resume";
    const question = resume
      ? "Resume all integrations? Clients not suspended one by one work again and held webhooks are sent."
      : "Suspend all integrations? Every client's tokens are refused at once and every webhook is held.";
    if (!window.confirm(question)) return;
    show(killSwitchError, "");
    const result = await api("POST", "/api/tenant/integrations/" + (resume ? "resume" : "suspend"));
    if (!result.ok) show(killSwitchError, problemText(result));
    await loadSuspensions();
  });

  async function load() {
    const result = await api("GET", "/api/tenant/clients");
    if (!result.ok) {
      show(tableError, problemText(result));
      return;
    }
    result.body.forEach((client) => names.set(client.client_id, client.name));
    if (result.body.length === 0) {
      body.replaceChildren(element("tr", {}, [element("td", { colspan: "6", className: "muted", text: "No API clients yet." })]));
    } else {
      body.replaceChildren(...result.body.map(row));
    }
    await loadSuspensions();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const limit = rateLimit(form, "client-");
    if (!limit) return;
    const result = await api("POST", "/api/tenant/clients", {
      name: form.elements.namedItem("name").value.trim(),
      scopes: checkedScopes(form),
      rate_limit_per_minute: limit.value,
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
