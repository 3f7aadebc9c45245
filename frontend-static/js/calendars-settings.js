// Settings → Calendars: doctors' calendar feeds (create, with the address shown once; revoke)
// and whether feeds show initials or full names, through /api/tenant/calendar-feeds.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, wireCopyButtons, element } = window.ClinicGate;
  const body = document.getElementById("feeds-body");
  const tableError = document.getElementById("feeds-error");
  const form = document.getElementById("create-feed-form");
  const doctorSelect = document.getElementById("feed-doctor_id");
  const panel = document.getElementById("feed-url-panel");
  const url = document.getElementById("new-feed-url");
  const namesForm = document.getElementById("names-form");
  const namesError = document.getElementById("names-error");
  const namesSaved = document.getElementById("names-saved");
  let doctorNames = {};

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The request failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  document.getElementById("feed-url-done").addEventListener("click", () => {
    url.textContent = "";
    panel.hidden = true;
  });

  function row(feed) {
    const name = doctorNames[feed.doctor_id] || "Doctor " + feed.doctor_id;
    const revoke = element("button", {
      type: "button",
      className: "button button-danger button-small",
      text: "Revoke",
      "aria-label": "Revoke the feed of " + name,
    });
    revoke.addEventListener("click", async () => {
      if (!window.confirm("Revoke this feed of " + name + "? Its address stops working at once.")) return;
      show(tableError, "");
      const result = await api("DELETE", "/api/tenant/calendar-feeds/" + encodeURIComponent(feed.id));
      if (!result.ok) show(tableError, problemText(result));
      await load();
    });
    return element("tr", { "data-feed-id": feed.id }, [
      element("td", { text: name }),
      element("td", { text: new Date(feed.created_at).toLocaleString() }),
      element("td", { className: "row-actions" }, [revoke]),
    ]);
  }

  async function loadDoctors() {
    const result = await api("GET", "/api/tenant/calendar-feeds/doctors");
    if (!result.ok) {
      show(document.getElementById("create-feed-error"), problemText(result));
      return;
    }
    doctorNames = {};
    doctorSelect.replaceChildren(...result.body.map((doctor) => {
      doctorNames[doctor.id] = doctor.name;
      return element("option", { value: doctor.id, text: doctor.name });
    }));
  }

  async function load() {
    const result = await api("GET", "/api/tenant/calendar-feeds");
    if (!result.ok) {
      show(tableError, problemText(result));
      return;
    }
    if (result.body.length === 0) {
      body.replaceChildren(element("tr", {}, [element("td", { colspan: "3", className: "muted", text: "No calendar feeds yet." })]));
      return;
    }
    body.replaceChildren(...result.body.map(row));
  }

  async function loadNames() {
    const result = await api("GET", "/api/tenant/calendar-feeds/settings");
    if (!result.ok) {
      show(namesError, problemText(result));
      return;
    }
    const choice = namesForm.querySelector('input[value="' + result.body.patient_names + '"]');
    if (choice) choice.checked = true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const result = await api("POST", "/api/tenant/calendar-feeds", { doctor_id: doctorSelect.value });
    if (result.ok) {
      url.textContent = result.body.url;
      panel.hidden = false;
      panel.scrollIntoView({ block: "start" });
      panel.querySelector("[data-copy]").focus();
      await load();
      return;
    }
    showProblem(form, result, "feed-");
  });

  namesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(namesError, "");
    show(namesSaved, "");
    const chosen = namesForm.querySelector('input[name="patient_names"]:checked');
    const result = await api("PUT", "/api/tenant/calendar-feeds/settings", { patient_names: chosen ? chosen.value : "initials" });
    if (result.ok) show(namesSaved, "Saved. Feeds show " + (result.body.patient_names === "full" ? "full names" : "initials") + " from their next refresh.");
    else show(namesError, problemText(result));
  });

  wireCopyButtons();
  loadDoctors().then(load);
  loadNames();
})();
