// Settings → Notifications: which appointment events e-mail or text the patient and/or staff,
// the quiet hours of patient messages, the clinic's SMS account, a preview of each message, the
// clinic's own templates, the patients who unsubscribed, and the history, through
// /api/tenant/notifications.
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
    "doctor.queue_updated": "Queue progress (patients)",
  };
  const REMINDER = "appointment.reminder";
  const QUEUE = "doctor.queue_updated";
  const smsForm = document.getElementById("sms-form");
  const smsSaved = document.getElementById("sms-saved");

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The request failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  function checkbox(event, channel, audience, on) {
    const how = channel === "sms" ? "Text the " : "E-mail the ";
    const box = element("input", { type: "checkbox", "data-event": event, "data-channel": channel, "data-audience": audience, "aria-label": how + audience + " when " + (LABELS[event] || event).toLowerCase() });
    box.checked = on;
    return box;
  }

  function showPreview(rendered) {
    document.getElementById("preview-subject").textContent = rendered.subject;
    document.getElementById("preview-text").textContent = rendered.text;
    document.getElementById("preview-html").textContent = rendered.html;
    document.getElementById("preview-panel").hidden = false;
  }

  async function preview(event, audience, channel) {
    const result = await api("POST", "/api/tenant/notifications/preview", { event, channel, audience });
    if (!result.ok) {
      show(document.getElementById("rules-error"), problemText(result));
      return;
    }
    showPreview(result.body);
  }

  // The reminder's row also says how many hours before (one value for all its audiences).
  function label(event, settings) {
    if (event === QUEUE) {
      const queue = settings.rules.find((r) => r.event === QUEUE);
      const minutes = element("input", { type: "number", id: "notify-late_after_minutes", min: "1", max: "240", value: String((queue && queue.late_after_minutes) || 15), "aria-label": "Minutes late before patients are told", className: "input-small" });
      return element("td", {}, [element("span", { text: "Queue progress; running late after " }), minutes, element("span", { text: " minutes" })]);
    }
    if (event !== REMINDER) return element("td", { text: LABELS[event] || event });
    const reminder = settings.rules.find((r) => r.event === REMINDER);
    const hours = element("input", { type: "number", id: "notify-hours_before", min: "1", max: "168", value: String((reminder && reminder.hours_before) || 24), "aria-label": "Hours before the appointment", className: "input-small" });
    return element("td", {}, [element("span", { text: "Reminder " }), hours, element("span", { text: " hours before the appointment" })]);
  }

  function render(settings) {
    const on = (event, channel, audience) => settings.rules.some((r) => r.event === event && r.audience === audience && r.channel === channel);
    // Queue progress goes to patients only.
    const cell = (event, channel, audience) => element("td", {}, event === QUEUE && audience === "staff" ? [] : [checkbox(event, channel, audience, on(event, channel, audience))]);
    rulesBody.replaceChildren(...settings.events.map((event) => {
      const button = element("button", { type: "button", className: "button button-secondary button-small", text: "Preview" });
      button.addEventListener("click", () => preview(event, "patient", "email"));
      const sms = element("button", { type: "button", className: "button button-secondary button-small", text: "Preview SMS" });
      sms.addEventListener("click", () => preview(event, "patient", "sms"));
      return element("tr", {}, [
        label(event, settings),
        cell(event, "email", "patient"),
        cell(event, "email", "staff"),
        cell(event, "sms", "patient"),
        cell(event, "sms", "staff"),
        element("td", { className: "row-actions" }, [button, sms]),
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
      historyBody.replaceChildren(element("tr", {}, [element("td", { colspan: "6", className: "muted", text: "Nothing sent yet." })]));
      return;
    }
    historyBody.replaceChildren(...result.body.map((entry) => element("tr", {}, [
      element("td", { text: new Date(entry.created_at).toLocaleString() }),
      element("td", { text: LABELS[entry.rule.event] || entry.rule.event }),
      element("td", { text: entry.rule.channel === "sms" ? "SMS" : "E-mail" }),
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
      const rule = { event: box.dataset.event, channel: box.dataset.channel, audience: box.dataset.audience };
      if (rule.event === REMINDER) rule.hours_before = Number(hours.value);
      if (rule.event === QUEUE) rule.late_after_minutes = Number(document.getElementById("notify-late_after_minutes").value);
      return rule;
    });
    const result = await api("PUT", "/api/tenant/notifications/settings", {
      staff_email: staffEmail.value,
      quiet_hours: quietOn.checked ? { start: quietStart.value, end: quietEnd.value } : null,
      rules,
    });
    if (result.ok) {
      render(result.body);
      show(saved, "Saved. New events send messages as chosen.");
      return;
    }
    showProblem(form, result, "notify-");
  });

  // The template editor: one event's templates on one channel at a time (a text message has
  // no subject and no HTML).
  const templateForm = document.getElementById("template-form");
  const templateEvent = document.getElementById("tmpl-event");
  const templateChannel = document.getElementById("tmpl-channel");
  const templateSaved = document.getElementById("template-saved");
  const templateState = document.getElementById("tmpl-state");
  const parts = ["subject", "text", "html"];
  let templates = [];

  function fillTemplate() {
    const entry = templates.find((t) => t.event === templateEvent.value && t.channel === templateChannel.value);
    if (!entry) return;
    const email = templateChannel.value === "email";
    document.getElementById("tmpl-subject-field").hidden = !email;
    document.getElementById("tmpl-html-field").hidden = !email;
    parts.forEach((part) => { document.getElementById("tmpl-" + part).value = entry.template[part] || ""; });
    templateState.textContent = entry.custom ? "Your own wording, saved " + new Date(entry.updated_at).toLocaleString() + "." : "The default wording.";
  }

  function draft() {
    const body = {};
    const email = templateChannel.value === "email";
    parts.filter((part) => email || part === "text").forEach((part) => { body[part] = document.getElementById("tmpl-" + part).value; });
    return body;
  }

  function templatePath() {
    return "/api/tenant/notifications/templates/" + encodeURIComponent(templateEvent.value) + "/" + encodeURIComponent(templateChannel.value);
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

  [templateEvent, templateChannel].forEach((select) => select.addEventListener("change", () => {
    clearErrors(templateForm);
    show(templateSaved, "");
    fillTemplate();
  }));

  templateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(templateForm);
    show(templateSaved, "");
    const result = await api("PUT", templatePath(), draft());
    if (result.ok) {
      replaceTemplate(result.body);
      show(templateSaved, "Saved. New messages for this event use your wording.");
      return;
    }
    showProblem(templateForm, result, "tmpl-");
  });

  document.getElementById("tmpl-preview").addEventListener("click", async () => {
    clearErrors(templateForm);
    const result = await api("POST", "/api/tenant/notifications/preview", { event: templateEvent.value, channel: templateChannel.value, audience: "patient", template: draft() });
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


  function renderSms(sms) {
    document.getElementById("sms-status").textContent = sms.configured
      ? "Saved: account " + sms.account_sid + (sms.auth_token_set ? ", auth token stored." : ".")
      : "No SMS account yet: SMS rules need one.";
    document.getElementById("sms-account_sid").value = sms.account_sid || "";
    document.getElementById("sms-auth_token").value = "";
    document.getElementById("sms-from_number").value = sms.from_number || "";
    document.getElementById("sms-messaging_service_sid").value = sms.messaging_service_sid || "";
    document.getElementById("sms-staff_phone").value = sms.staff_phone || "";
  }

  async function loadSms() {
    const result = await api("GET", "/api/tenant/notifications/sms");
    if (!result.ok) {
      show(document.getElementById("sms-error"), problemText(result));
      return;
    }
    renderSms(result.body);
  }

  smsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(smsForm);
    show(smsSaved, "");
    const value = (id) => document.getElementById(id).value.trim();
    const body = {
      account_sid: value("sms-account_sid"),
      from_number: value("sms-from_number") || null,
      messaging_service_sid: value("sms-messaging_service_sid") || null,
      staff_phone: value("sms-staff_phone") || null,
    };
    if (value("sms-auth_token")) body.auth_token = value("sms-auth_token");
    const result = await api("PUT", "/api/tenant/notifications/sms", body);
    if (result.ok) {
      renderSms(result.body);
      show(smsSaved, "Saved. The auth token is stored encrypted.");
      load();
      return;
    }
    showProblem(smsForm, result, "sms-");
  });

  load();
  loadSms();
  loadTemplates();
  loadOptOuts();
  loadHistory();
})();
