// Settings → Partners: each API client's patient sync (where its partner's patient API is, how
// ClinicGate authenticates there, on or off), through /api/tenant/clients/{id}/patient-sync.
// The credential is write-only: the API never returns it, so the form never shows one.
// "Activity" shows one client's recent syncs with the partner's answers ("Retry now" for one
// that failed) and the patients linked to the partner's ids.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, element } = window.ClinicGate;
  const body = document.getElementById("partners-body");
  const tableError = document.getElementById("partners-error");
  const tableDone = document.getElementById("partners-done");
  const form = document.getElementById("sync-form");
  const clientSelect = document.getElementById("sync-client");
  const authType = document.getElementById("sync-auth-type");
  const headerField = document.getElementById("sync-header-field");
  const activity = document.getElementById("activity");
  const activityClient = document.getElementById("activity-client");
  const activityError = document.getElementById("activity-error");
  const activityDone = document.getElementById("activity-done");
  const activityDeliveries = document.getElementById("activity-deliveries");
  const activityLinks = document.getElementById("activity-links");
  let watched = null;

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The change failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  function syncPath(client) {
    return "/api/tenant/clients/" + encodeURIComponent(client.client_id) + "/patient-sync";
  }

  // Field errors name nested fields with a dot (`auth.token`); the form's ids use a dash.
  function formFields(result) {
    const problem = result.body || {};
    (problem.errors || []).forEach((error) => {
      error.field = { "auth.token": "auth-secret", "auth.value": "auth-secret", "auth.name": "auth-name", auth: "auth-secret" }[error.field] || error.field;
    });
    return result;
  }

  async function act(work, success) {
    show(tableError, "");
    show(tableDone, "");
    const result = await work();
    if (result.ok) show(tableDone, success);
    else show(tableError, problemText(result));
    await load();
  }

  function row(client, sync) {
    const actions = [];
    if (sync) {
      const toggle = element("button", {
        type: "button",
        className: "button button-secondary button-small",
        text: sync.enabled ? "Disable" : "Enable",
        "aria-label": (sync.enabled ? "Disable" : "Enable") + " patient sync of " + client.name,
      });
      toggle.addEventListener("click", () => act(
        () => api("PUT", syncPath(client), { base_url: sync.base_url, identifier_system: sync.identifier_system, enabled: !sync.enabled }),
        "Patient sync of " + client.name + (sync.enabled ? " is off." : " is on.")));
      const backfill = element("button", {
        type: "button",
        className: "button button-secondary button-small",
        text: "Send existing patients",
        "aria-label": "Send existing patients to " + client.name,
      });
      backfill.disabled = !sync.enabled;
      backfill.addEventListener("click", () => act(
        () => api("POST", syncPath(client) + "/backfill"),
        "Existing patients are being queued for " + client.name + "."));
      const remove = element("button", {
        type: "button",
        className: "button button-danger button-small",
        text: "Remove",
        "aria-label": "Remove patient sync of " + client.name,
      });
      remove.addEventListener("click", () => {
        if (!window.confirm("Stop sending patients to " + client.name + "? Deliveries still queued are dropped.")) return;
        act(() => api("DELETE", syncPath(client)), "Patient sync of " + client.name + " removed.");
      });
      const view = element("button", {
        type: "button",
        className: "button button-secondary button-small",
        text: "Activity",
        "aria-label": "Show the patient sync activity of " + client.name,
      });
      view.addEventListener("click", () => showActivity(client));
      actions.push(view, toggle, backfill, remove);
    }
    const credential = !sync ? "" : sync.auth.type === "bearer" ? "Bearer token" : "Header " + sync.auth.name;
    return element("tr", { "data-client-id": client.client_id }, [
      element("td", { text: client.name }),
      element("td", {}, sync ? [element("code", { className: "wrap", text: sync.base_url })] : [element("span", { className: "muted", text: "Not connected" })]),
      element("td", { text: credential }),
      element("td", {}, sync ? [element("span", { className: sync.enabled ? "pill pill-on" : "pill pill-off", text: sync.enabled ? "On" : "Off" })] : []),
      element("td", {}, actions),
    ]);
  }

  function when(at) {
    return at ? new Date(at).toLocaleString() : "";
  }

  // The last attempt's answer: the partner's status and the start of its body, or the failure.
  function answer(delivery) {
    const last = delivery.attempts[delivery.attempts.length - 1];
    if (!last) return delivery.status === "pending" ? "Not tried yet" : "";
    const said = last.status_code ? "HTTP " + last.status_code : last.error_class || "";
    return said + (last.response_excerpt ? " — " + last.response_excerpt.slice(0, 200) : "");
  }

  function deliveryRow(client, delivery) {
    const actions = [];
    if (delivery.status === "failed") {
      const retry = element("button", {
        type: "button",
        className: "button button-secondary button-small",
        text: "Retry now",
        "aria-label": "Retry the sync queued " + when(delivery.created_at),
      });
      retry.addEventListener("click", async () => {
        const path = syncPath(client) + "/deliveries/" + encodeURIComponent(delivery.id) + "/retry";
        const result = await api("POST", path);
        show(activityError, result.ok ? "" : problemText(result));
        show(activityDone, result.ok ? "Queued again." : "");
        await showActivity(client);
      });
      actions.push(retry);
    }
    const pill = { delivered: "pill pill-on", failed: "pill pill-off", pending: "pill" }[delivery.status] || "pill";
    return element("tr", {}, [
      element("td", { text: when(delivery.created_at) }),
      element("td", {}, [element("code", { text: delivery.event_type })]),
      element("td", {}, [element("span", { className: pill, text: delivery.status })]),
      element("td", { className: "wrap", text: answer(delivery) }),
      element("td", {}, actions),
    ]);
  }

  async function showActivity(client) {
    watched = client;
    activity.hidden = false;
    activityClient.textContent = client.name;
    const [deliveries, links] = await Promise.all([
      api("GET", syncPath(client) + "/deliveries?limit=20"),
      api("GET", syncPath(client) + "/links?limit=50"),
    ]);
    if (!deliveries.ok || !links.ok) {
      show(activityError, problemText(deliveries.ok ? links : deliveries));
      return;
    }
    const sent = deliveries.body.data.map((d) => deliveryRow(client, d));
    activityDeliveries.replaceChildren(...(sent.length ? sent : [element("tr", {}, [element("td", { colSpan: 5, className: "muted", text: "Nothing sent yet." })])]));
    const linked = links.body.data.map((link) => element("tr", {}, [
      element("td", {}, [element("code", { text: link.partner_id })]),
      element("td", {}, [element("a", { href: "/patients?patient_id=" + encodeURIComponent(link.cliniko_id), text: link.cliniko_id })]),
      element("td", { text: when(link.linked_at) }),
    ]));
    activityLinks.replaceChildren(...(linked.length ? linked : [element("tr", {}, [element("td", { colSpan: 3, className: "muted", text: "No patient linked yet." })])]));
  }

  async function load() {
    const clients = await api("GET", "/api/tenant/clients");
    if (!clients.ok) {
      show(tableError, problemText(clients));
      return;
    }
    const rows = [];
    for (const client of clients.body) {
      const sync = await api("GET", syncPath(client));
      rows.push(row(client, sync.ok ? sync.body : null));
    }
    if (rows.length === 0) {
      rows.push(element("tr", {}, [element("td", { colSpan: 5, className: "muted", text: "Create an API client first (Settings → API clients)." })]));
    }
    body.replaceChildren(...rows);
    const chosen = clientSelect.value;
    clientSelect.replaceChildren(...clients.body.map((client) => element("option", { value: client.client_id, text: client.name })));
    if (chosen) clientSelect.value = chosen;
    if (watched) await showActivity(watched);
  }

  authType.addEventListener("change", () => {
    headerField.hidden = authType.value !== "header";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const field = (name) => form.elements.namedItem(name);
    const secret = field("auth_secret").value;
    const payload = {
      base_url: field("base_url").value.trim(),
      identifier_system: field("identifier_system").value.trim(),
      enabled: field("enabled").checked,
    };
    if (secret) {
      payload.auth = authType.value === "header"
        ? { type: "header", name: field("auth_name").value.trim(), value: secret }
        : { type: "bearer", token: secret };
    }
    const client = { client_id: clientSelect.value };
    const result = await api("PUT", syncPath(client), payload);
    if (result.ok) {
      field("auth_secret").value = "";
      show(tableDone, "Patient sync saved.");
      await load();
      return;
    }
    showProblem(form, formFields(result), "sync-");
  });

  // The clinic's choice of a Cliniko field for partners' ids (GET|PATCH /api/tenant/settings).
  const fieldForm = document.getElementById("partner-field-form");
  const fieldSelect = document.getElementById("partner-field-partner_id_field");
  const fieldDone = document.getElementById("partner-field-done");

  async function loadField() {
    const settings = await api("GET", "/api/tenant/settings");
    if (settings.ok) fieldSelect.value = settings.body.partner_id_field || "";
  }

  fieldForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(fieldForm);
    show(fieldDone, "");
    const result = await api("PATCH", "/api/tenant/settings", { partner_id_field: fieldSelect.value || null });
    if (result.ok) {
      show(fieldDone, result.body.partner_id_field ? "Partner ids are written into Cliniko." : "Partner ids stay in ClinicGate only.");
      return;
    }
    showProblem(fieldForm, result, "partner-field-");
  });

  load();
  loadField();
})();
