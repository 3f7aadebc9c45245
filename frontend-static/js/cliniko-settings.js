// Settings → Cliniko: shows the connection (never the key), connects a key with
// PUT /api/tenant/cliniko-key and disconnects with DELETE.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, wireCopyButtons, element } = window.ClinicGate;
  const status = document.getElementById("cliniko-status");
  const warnings = document.getElementById("cliniko-warnings");
  const form = document.getElementById("cliniko-form");
  const input = document.getElementById("api_key");
  const submit = document.getElementById("cliniko-submit");
  const disconnect = document.getElementById("cliniko-disconnect");

  function fact(term, value) {
    return [element("dt", { text: term }), element("dd", { text: value })];
  }

  function render(connection) {
    status.replaceChildren();
    warnings.replaceChildren();
    if (!connection.connected) {
      status.append(
        element("p", { className: "status status-off", text: "Not connected" }),
        element("p", { text: "Paste an API key from Cliniko to connect your account." })
      );
      warnings.hidden = true;
      disconnect.hidden = true;
      submit.textContent = "Verify and connect";
      return;
    }
    const user = connection.cliniko_user || {};
    const verified = new Date(connection.verified_at);
    status.append(
      connection.rejected_at
        ? element("p", { className: "status status-bad", text: "Needs a new key: Cliniko refused this one" })
        : element("p", { className: "status status-ok", text: "Connected" }),
      element("dl", { className: "facts" }, [
        ...fact("Key", "…" + connection.last4),
        ...fact("Shard", connection.shard),
        ...fact("Cliniko user", user.name || "(no name)"),
        ...fact("Role", user.role || "not reported"),
        ...fact("Verified", verified.toLocaleString()),
      ])
    );
    connection.warnings.forEach((warning) => {
      warnings.append(element("li", { "data-code": warning.code, text: warning.message }));
    });
    warnings.hidden = connection.warnings.length === 0;
    disconnect.hidden = false;
    submit.textContent = "Replace key";
  }

  async function load() {
    const result = await api("GET", "/api/tenant/cliniko-key");
    if (result.ok) render(result.body);
    else show(document.getElementById("cliniko-error"), (result.body && result.body.detail) || "Could not load the connection.");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    const label = submit.textContent;
    submit.textContent = "Checking with Cliniko…";
    const result = await api("PUT", "/api/tenant/cliniko-key", { api_key: input.value });
    submit.disabled = false;
    submit.textContent = label;
    if (result.ok) {
      input.value = "";
      render(result.body);
      return;
    }
    showProblem(form, result);
  });

  disconnect.addEventListener("click", async () => {
    if (!window.confirm("Disconnect Cliniko? Patient buttons stop working until a key is connected again.")) return;
    clearErrors(form);
    const result = await api("DELETE", "/api/tenant/cliniko-key");
    if (result.ok) render({ connected: false });
    else showProblem(form, result);
  });

  wireCopyButtons();
  load();
})();
