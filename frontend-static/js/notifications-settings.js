// Settings → Notifications: which appointment events e-mail the patient and/or the staff
// address, the quiet hours of patient e-mails, a preview of each message, the clinic's own
// templates, the patients who unsubscribed, and the history, through /api/tenant/notifications.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, element } = window.ClinicGate;
  const form = document.getElementById("rules-form");
  const rulesBody = document.getElementById("rules-body");
  const staffEmail = document.getElementById("notify-staff_email");
  const saved = document.getElementById("rules-saved");
  const quietOn = document.getElementById("quiet-on");
  const quietStart = document.getElementById("quiet-start");
  const quietEnd = document.getElementById("quiet-end");
  const historyBody = document.getElementById("history-body");
  const historyError = document.getElementById("history-error");
  const LABELS = {
    "appointment.created": "Booked (confirmation)",
    "appointment.updated": "Changed",
    "appointment.cancelled": "Cancelled",
    "appointment.reminder": "Reminder before the appointment",
  };
  const REMINDER = "appointment.reminder";

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The request failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  function checkbox(event, audience, on) {
    const box = element("input", { type: "checkbox", "data-event": event, "data-audience": audience, "aria-label": "E-mail the " + audience + " when " + (LABELS[event] || event).toLowerCase() });
    box.checked = on;
    return box;
  }

  function showPreview(rendered) {
    document.getElementById("preview-subject").textContent = rendered.subject;
    document.getElementById("preview-text").textContent = rendered.text;
    document.getElementById("preview-html").textContent = rendered.html;
    document.getElementById("preview-panel").hidden = false;
  }

  async function preview(event, audience) {
    const result = await api("POST", "/api/tenant/notifications/preview", { event, channel: "email", audience });
    if (!result.ok) {
      show(document.getElementById("rules-error"), problemText(result));
      return;
    }
    showPreview(result.body);
  }

  // The reminder's row also says how many hours before (one value for all its audiences).
  function label(event, settings) {
    if (event !== REMINDER) return element("td", { text: LABELS[event] || event });
    const reminder = settings.rules.find((r) => r.event === REMINDER);
    const hours = element("input", { type: "number", id: "notify-hours_before", min: "1", max: "168", value: String((reminder && reminder.hours_before) || 24), "aria-label": "Hours before the appointment", className: "input-small" });
    return element("td", {}, [element("span", { text: "Reminder " }), hours, element("span", { text: " hours before the appointment" })]);
  }

  function render(settings) {
    const on = (event, audience) => settings.rules.some((r) => r.event === event && r.audience === audience && r.channel === "email");
    rulesBody.replaceChildren(...settings.events.map((event) => {
      const button = element("button", { type: "button", className: "button button-secondary button-small", text: "Preview" });
      button.addEventListener("click", () => preview(event, "patient"));
      return element("tr", {}, [
        label(event, settings),
        element("td", {}, [checkbox(event, "patient", on(event, "patient"))]),
        element("td", {}, [checkbox(event, "staff", on(event, "staff"))]),
        element("td", { className: "row-actions" }, [button]),
      ]);
    }));
    staffEmail.value = settings.staff_email || "";
    quietOn.checked = Boolean(settings.quiet_hours);
    if (settings.quiet_hours) {
      quietStart.value = settings.quiet_hours.start;
      quietEnd.value = settings.quiet_hours.end;
    }
    document.getElementById("email-unconfigured").hidden = settings.email_configured;
  }

  async function load() {
    const result = await api("GET", "/api/tenant/notifications/settings");
    if (!result.ok) {
      show(document.getElementById("rules-error"), problemText(result));
      return;
    }
    render(result.body);
  }

  async function loadHistory() {
    const result = await api("GET", "/api/tenant/notifications/history?limit=50");
    if (!result.ok) {
      show(historyError, problemText(result));
      return;
    }
    if (result.body.length === 0) {
      historyBody.replaceChildren(element("tr", {}, [element("td", { colspan: "5", className: "muted", text: "Nothing sent yet." })]));
      return;
    }
    historyBody.replaceChildren(...result.body.map((entry) => element("tr", {}, [
      element("td", { text: new Date(entry.created_at).toLocaleString() }),
      element("td", { text: LABELS[entry.rule.event] || entry.rule.event }),
      element("td", { text: entry.rule.audience }),
      element("td", { text: entry.status + (entry.attempts > 1 ? " (" + entry.attempts + " attempts)" : "") }),
      element("td", { text: entry.answer || "" }),
    ])));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    show(saved, "");
    const hours = document.getElementById("notify-hours_before");
    const rules = [...rulesBody.querySelectorAll("input[type=checkbox]:checked")].map((box) => {
      const rule = { event: box.dataset.event, channel: "email", audience: box.dataset.audience };
      if (rule.event === REMINDER) rule.hours_before = Number(hours.value);
      return rule;
    });
    const result = await api("PUT", "/api/tenant/notifications/settings", {
      staff_email: staffEmail.value,
      quiet_hours: quietOn.checked ? { start: quietStart.value, end: quietEnd.value } : null,
      rules,
    });
    if (result.ok) {
      render(result.body);
      show(saved, "Saved. New events send e-mails as chosen.");
      return;
    }
    showProblem(form, result, "notify-");
  });

  // The template editor: one event's e-mail templates at a time.
  const templateForm = document.getElementById("template-form");
  const templateEvent = document.getElementById("tmpl-event");
  const templateSaved = document.getElementById("template-saved");
  const templateState = document.getElementById("tmpl-state");
  const parts = ["subject", "text", "html"];
  let templates = [];

  function fillTemplate() {
    const entry = templates.find((t) => t.event === templateEvent.value && t.channel === "email");
    if (!entry) return;
    parts.forEach((part) => { document.getElementById("tmpl-" + part).value = entry.template[part] || ""; });
    templateState.textContent = entry.custom ? "Your own wording, saved " + new Date(entry.updated_at).toLocaleString() + "." : "The default wording.";
  }

  function draft() {
    const body = {};
    parts.forEach((part) => { body[part] = document.getElementById("tmpl-" + part).value; });
    return body;
  }

  function templatePath() {
    return "/api/tenant/notifications/templates/" + encodeURIComponent(templateEvent.value) + "/email";
  }

  function replaceTemplate(entry) {
    templates = templates.map((t) => (t.event === entry.event && t.channel === entry.channel ? entry : t));
    fillTemplate();
  }

  async function loadTemplates() {
    const result = await api("GET", "/api/tenant/notifications/templates");
    if (!result.ok) {
      show(document.getElementById("template-error"), problemText(result));
      return;
    }
    templates = result.body;
    const events = [...new Set(templates.filter((t) => t.channel === "email").map((t) => t.event))];
    templateEvent.replaceChildren(...events.map((event) => element("option", { value: event, text: LABELS[event] || event })));
    fillTemplate();
  }

  templateEvent.addEventListener("change", () => {
    clearErrors(templateForm);
    show(templateSaved, "");
    fillTemplate();
  });

  templateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(templateForm);
    show(templateSaved, "");
    const result = await api("PUT", templatePath(), draft());
    if (result.ok) {
      replaceTemplate(result.body);
      show(templateSaved, "Saved. New e-mails for this event use your wording.");
      return;
    }
    showProblem(templateForm, result, "tmpl-");
  });

  document.getElementById("tmpl-preview").addEventListener("click", async () => {
    clearErrors(templateForm);
    const result = await api("POST", "/api/tenant/notifications/preview", { event: templateEvent.value, channel: "email", audience: "patient", template: draft() });
    if (result.ok) {
      showPreview(result.body);
      return;
    }
    // The draft's errors name `template.subject` …; the fields are `tmpl-subject` ….
    (result.body && result.body.errors || []).forEach((error) => { error.field = error.field.replace(/^template\./, ""); });
    showProblem(templateForm, result, "tmpl-");
  });

  document.getElementById("tmpl-reset").addEventListener("click", async () => {
    clearErrors(templateForm);
    show(templateSaved, "");
    const result = await api("DELETE", templatePath());
    if (result.ok) {
      replaceTemplate(result.body);
      show(templateSaved, "Back to the default wording.");
      return;
    }
    showProblem(templateForm, result, "tmpl-");
  });

  // Patients who unsubscribed, by Cliniko id; clearing one lets e-mails go to them again.
  const optOutsBody = document.getElementById("opt-outs-body");
  const optOutsError = document.getElementById("opt-outs-error");

  async function loadOptOuts() {
    const result = await api("GET", "/api/tenant/notifications/opt-outs");
    if (!result.ok) {
      show(optOutsError, problemText(result));
      return;
    }
    if (result.body.length === 0) {
      optOutsBody.replaceChildren(element("tr", {}, [element("td", { colspan: "5", className: "muted", text: "Nobody has unsubscribed." })]));
      return;
    }
    optOutsBody.replaceChildren(...result.body.map((entry) => {
      const actions = element("td", { className: "row-actions" });
      if (entry.in_force) {
        const clear = element("button", { type: "button", className: "button button-secondary button-small", text: "Clear", "aria-label": "Clear the opt-out of patient " + entry.patient_id });
        clear.addEventListener("click", async () => {
          show(optOutsError, "");
          const cleared = await api("DELETE", "/api/tenant/notifications/opt-outs/" + encodeURIComponent(entry.channel) + "/" + encodeURIComponent(entry.patient_id));
          if (!cleared.ok) {
            show(optOutsError, problemText(cleared));
            return;
          }
          loadOptOuts();
        });
        actions.append(clear);
      }
      return element("tr", {}, [
        element("td", { text: entry.patient_id }),
        element("td", { text: entry.channel }),
        element("td", { text: new Date(entry.opted_out_at).toLocaleString() }),
        element("td", { text: entry.in_force ? "Unsubscribed" : "Cleared " + new Date(entry.cleared_at).toLocaleString() }),
        actions,
      ]);
    }));
  }

  load();
  loadTemplates();
  loadOptOuts();
  loadHistory();
})();
