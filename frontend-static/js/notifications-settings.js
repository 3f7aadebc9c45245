// Settings → Notifications: which appointment events e-mail the patient and/or the staff
// address, the quiet hours of patient e-mails, a preview of each message, and the history, through /api/tenant/notifications.
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

  async function preview(event, audience) {
    const result = await api("POST", "/api/tenant/notifications/preview", { event, channel: "email", audience });
    if (!result.ok) {
      show(document.getElementById("rules-error"), problemText(result));
      return;
    }
    document.getElementById("preview-subject").textContent = result.body.subject;
    document.getElementById("preview-text").textContent = result.body.text;
    document.getElementById("preview-panel").hidden = false;
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

  load();
  loadHistory();
})();
