// Settings → FHIR: the clinic's FHIR destinations (where patients and appointments are pushed
// as FHIR R4 resources), through /api/tenant/fhir-destinations. Secrets are write-only: the API
// never returns them, so the page never shows one. "Pushes" shows one destination's recent
// deliveries with the server's answers ("Retry now" for one that failed). "Send existing
// records" queues the clinic's current patients (and appointments near today) to a destination;
// its progress is shown in the row and refreshed while it runs.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, element } = window.ClinicGate;
  const body = document.getElementById("fhir-body");
  const tableError = document.getElementById("fhir-error");
  const tableDone = document.getElementById("fhir-done");
  const form = document.getElementById("dest-form");
  const authType = document.getElementById("dest-auth-type");
  const oauthFields = document.getElementById("dest-oauth");
  const secretField = document.getElementById("dest-secret-field");
  const algorithmField = document.getElementById("dest-algorithm-field");
  const pushes = document.getElementById("pushes");
  const pushesName = document.getElementById("pushes-name");
  const pushesError = document.getElementById("pushes-error");
  const pushesDone = document.getElementById("pushes-done");
  const pushesDeliveries = document.getElementById("pushes-deliveries");
  const base = "/api/tenant/fhir-destinations";
  let watched = null;
  let refresh = null;

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The change failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  function destPath(dest) {
    return base + "/" + encodeURIComponent(dest.id);
  }

  // Field errors name nested fields with a dot (`auth.token_url`); the form's ids use a dash.
  function formFields(result) {
    const problem = result.body || {};
    (problem.errors || []).forEach((error) => {
      error.field = error.field.replace(".", "-");
    });
    return result;
  }

  // The body that keeps `dest` as it is but for `changes` (the stored secret is kept).
  function sameWith(dest, changes) {
    const auth = { type: dest.auth.type };
    if (dest.auth.type !== "none") {
      auth.token_url = dest.auth.token_url;
      auth.client_id = dest.auth.client_id;
      if (dest.auth.scope) auth.scope = dest.auth.scope;
    }
    return Object.assign({ name: dest.name, base_url: dest.base_url, auth, resources: dest.resources, enabled: dest.enabled }, changes);
  }

  async function act(work, success) {
    show(tableError, "");
    show(tableDone, "");
    const result = await work();
    if (result.ok) show(tableDone, typeof success === "function" ? success(result) : success);
    else show(tableError, problemText(result));
    await load();
  }

  function button(text, label, className) {
    return element("button", { type: "button", className: "button button-small " + (className || "button-secondary"), text, "aria-label": label });
  }

  function testSummary(result) {
    const report = result.body;
    if (report.ok) return "Connected: the server answers FHIR " + (report.fhir_version || "") + (report.token ? " and issued a token." : ".");
    const parts = [];
    if (!report.metadata.ok) parts.push("metadata: " + (report.metadata.status ? "HTTP " + report.metadata.status : report.metadata.detail));
    if (report.token && !report.token.ok) parts.push("token: " + (report.token.status ? "HTTP " + report.token.status + " " : "") + (report.token.detail || ""));
    return "The connection failed (" + parts.join("; ") + ").";
  }

  function sent(part, noun) {
    return part.queued + (part.total === null || part.total === undefined ? "" : " of " + part.total) + " " + noun;
  }

  // The latest "send existing records" run, in words.
  function backfillText(run) {
    if (!run) return "";
    const parts = [sent(run.patients, "patients")];
    if (run.appointments) parts.push(sent(run.appointments, "appointments"));
    if (run.state === "running") return "Sending existing records: " + parts.join(", ") + (run.last_error ? " (waiting: " + run.last_error + ")" : "") + "…";
    if (run.state === "done") return "Existing records sent: " + parts.join(", ") + ".";
    return "Sending existing records stopped (" + (run.last_error || "failed") + ") after " + parts.join(", ") + ".";
  }

  function row(dest, run) {
    const toggle = button(dest.enabled ? "Disable" : "Enable", (dest.enabled ? "Disable " : "Enable ") + dest.name);
    toggle.addEventListener("click", () => act(() => api("PUT", destPath(dest), sameWith(dest, { enabled: !dest.enabled })), dest.name + (dest.enabled ? " is off." : " is on.")));
    const test = button("Test connection", "Test the connection to " + dest.name);
    test.addEventListener("click", () => act(() => api("POST", destPath(dest) + "/test"), testSummary));
    const backfill = button("Send existing records", "Send the existing patients and appointments to " + dest.name);
    backfill.disabled = !dest.enabled || (run && run.state === "running");
    backfill.addEventListener("click", () => act(() => api("POST", destPath(dest) + "/backfill"), (result) => (result.body.started ? "Sending existing records to " : "Already sending existing records to ") + dest.name + "."));
    const view = button("Pushes", "Show the pushes to " + dest.name);
    view.addEventListener("click", () => showPushes(dest));
    const remove = button("Remove", "Remove " + dest.name, "button-danger");
    remove.addEventListener("click", () => {
      if (!window.confirm("Stop pushing to " + dest.name + "? Deliveries still queued are dropped.")) return;
      act(() => api("DELETE", destPath(dest)), dest.name + " removed.");
    });
    const auth = { none: ["None"], client_credentials: ["OAuth client credentials"], smart_backend_services: ["SMART Backend Services"] }[dest.auth.type] || [dest.auth.type];
    const authCell = [element("span", { text: auth[0] + (dest.auth.algorithm ? " (" + dest.auth.algorithm + ")" : "") })];
    if (dest.auth.jwks_url) {
      authCell.push(element("br"), element("a", { href: dest.auth.jwks_url, className: "small", text: "Public key (JWKS)" }));
    }
    return element("tr", { "data-destination-id": dest.id }, [
      element("td", { text: dest.name }),
      element("td", {}, [element("code", { className: "wrap", text: dest.base_url })]),
      element("td", {}, authCell),
      element("td", { text: dest.resources.join(", ") }),
      element("td", {}, [
        element("span", { className: dest.enabled ? "pill pill-on" : "pill pill-off", text: dest.enabled ? "On" : "Off" }),
        element("p", { className: "small muted backfill-status", text: backfillText(run) }),
      ]),
      element("td", {}, [view, test, backfill, toggle, remove]),
    ]);
  }

  function when(at) {
    return at ? new Date(at).toLocaleString() : "";
  }

  // The last attempt's answer: the server's status and the start of its body, or the failure.
  function answer(delivery) {
    const last = delivery.attempts[delivery.attempts.length - 1];
    if (!last) return delivery.status === "pending" ? "Not tried yet" : "";
    const said = last.status_code ? "HTTP " + last.status_code : last.error_class || "";
    return said + (last.response_excerpt ? " — " + last.response_excerpt.slice(0, 200) : "");
  }

  function deliveryRow(dest, delivery) {
    const actions = [];
    if (delivery.status === "failed") {
      const retry = button("Retry now", "Retry the push queued " + when(delivery.created_at));
      retry.addEventListener("click", async () => {
        const result = await api("POST", destPath(dest) + "/deliveries/" + encodeURIComponent(delivery.id) + "/retry");
        show(pushesError, result.ok ? "" : problemText(result));
        show(pushesDone, result.ok ? "Queued again." : "");
        await showPushes(dest);
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

  async function showPushes(dest) {
    watched = dest;
    pushes.hidden = false;
    pushesName.textContent = dest.name;
    const deliveries = await api("GET", destPath(dest) + "/deliveries?limit=20");
    if (!deliveries.ok) {
      show(pushesError, problemText(deliveries));
      return;
    }
    const sent = deliveries.body.data.map((d) => deliveryRow(dest, d));
    pushesDeliveries.replaceChildren(...(sent.length ? sent : [element("tr", {}, [element("td", { colSpan: 5, className: "muted", text: "Nothing pushed yet." })])]));
  }

  async function load() {
    const listed = await api("GET", base);
    if (!listed.ok) {
      show(tableError, problemText(listed));
      return;
    }
    // A handful of destinations per clinic: one status read each.
    const runs = await Promise.all(listed.body.data.map(async (dest) => {
      const status = await api("GET", destPath(dest) + "/backfill");
      return status.ok ? status.body.backfill : null;
    }));
    const rows = listed.body.data.map((dest, at) => row(dest, runs[at]));
    // Progress moves on its own while a run goes: read it again shortly.
    window.clearTimeout(refresh);
    if (runs.some((run) => run && run.state === "running")) refresh = window.setTimeout(load, 2000);
    if (rows.length === 0) {
      rows.push(element("tr", {}, [element("td", { colSpan: 6, className: "muted", text: "No FHIR destination yet." })]));
    }
    body.replaceChildren(...rows);
    if (watched) {
      const still = listed.body.data.find((d) => d.id === watched.id);
      if (still) await showPushes(still);
      else pushes.hidden = true;
    }
  }

  authType.addEventListener("change", () => {
    oauthFields.hidden = authType.value === "none";
    secretField.hidden = authType.value !== "client_credentials";
    algorithmField.hidden = authType.value !== "smart_backend_services";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const field = (name) => form.elements.namedItem(name);
    const auth = { type: authType.value };
    if (auth.type !== "none") {
      auth.token_url = field("token_url").value.trim();
      auth.client_id = field("client_id").value.trim();
      const scope = field("scope").value.trim();
      if (scope) auth.scope = scope;
      if (auth.type === "client_credentials") auth.client_secret = field("client_secret").value;
      if (auth.type === "smart_backend_services") auth.algorithm = field("algorithm").value;
    }
    const resources = [];
    if (field("res_patient").checked) resources.push("Patient");
    if (field("res_appointment").checked) resources.push("Appointment");
    const result = await api("POST", base, {
      name: field("name").value.trim(),
      base_url: field("base_url").value.trim(),
      auth,
      resources,
      enabled: field("enabled").checked,
    });
    if (result.ok) {
      field("client_secret").value = "";
      show(tableDone, result.body.auth.jwks_url ? "Destination added. Register its public key with the server: " + result.body.auth.jwks_url : "Destination added.");
      await load();
      return;
    }
    showProblem(form, formFields(result), "dest-");
  });

  load();
})();
