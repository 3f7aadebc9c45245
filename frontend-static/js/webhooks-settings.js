// Settings → Webhooks: every endpoint of the clinic's API clients with its status and last 24
// hours, a notice for endpoints disabled because they kept failing, each endpoint's deliveries
// (response codes, latency), and — for owners and admins — disable, enable and resend, all through
// /api/tenant/webhooks.
"use strict";

(function () {
  const { api, show, element } = window.ClinicGate;
  const root = document.getElementById("webhooks-root");
  const manager = ["owner", "admin"].includes(root.dataset.myRole);
  const body = document.getElementById("webhooks-body");
  const tableError = document.getElementById("webhooks-error");
  const failingNotice = document.getElementById("failing-notice");
  const panel = document.getElementById("deliveries-panel");
  const panelEndpoint = document.getElementById("deliveries-endpoint");
  const deliveriesBody = document.getElementById("deliveries-body");
  const deliveriesError = document.getElementById("deliveries-error");
  const deliveriesDone = document.getElementById("deliveries-done");
  const more = document.getElementById("deliveries-more");
  let shown = null; // { endpoint, next_before }

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The request failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  function when(text) {
    return text ? new Date(text).toLocaleString() : "";
  }

  function button(text, label, danger, onClick) {
    const el = element("button", {
      type: "button",
      className: "button button-small " + (danger ? "button-danger" : "button-secondary"),
      text,
      "aria-label": label,
    });
    el.addEventListener("click", onClick);
    return el;
  }

  function statusCell(endpoint) {
    if (endpoint.status === "enabled") {
      const failing = endpoint.failing_since ? " (failing since " + when(endpoint.failing_since) + ")" : "";
      return element("td", {}, [element("span", { className: "status " + (failing ? "status-bad" : "status-ok"), text: "Enabled" + failing })]);
    }
    const why = endpoint.disabled_reason === "failing" ? "Disabled: kept failing" : "Disabled";
    return element("td", {}, [element("span", { className: "status " + (endpoint.disabled_reason === "failing" ? "status-bad" : "status-off"), text: why })]);
  }

  function row(endpoint) {
    const recent = endpoint.recent_deliveries;
    const actions = [button("Deliveries", "Show the deliveries to " + endpoint.url, false, () => openDeliveries(endpoint))];
    if (manager) {
      const enabling = endpoint.status !== "enabled";
      actions.push(button(enabling ? "Enable" : "Disable", (enabling ? "Enable " : "Disable ") + endpoint.url, !enabling, async () => {
        show(tableError, "");
        const action = enabling ? "enable" : "disable";
        const result = await api("POST", "/api/tenant/webhooks/" + encodeURIComponent(endpoint.id) + "/" + action);
        if (!result.ok) show(tableError, problemText(result));
        await load();
      }));
    }
    return element("tr", { "data-endpoint-id": endpoint.id }, [
      element("td", { text: endpoint.client_name }),
      element("td", {}, [element("code", { className: "wrap", text: endpoint.url })]),
      element("td", {}, endpoint.event_types.map((type) => element("code", { className: "scope", text: type }))),
      statusCell(endpoint),
      element("td", { text: recent.delivered + " delivered, " + recent.failed + " failed, " + recent.pending + " pending" }),
      element("td", { className: "row-actions" }, actions),
    ]);
  }

  function noticeFor(failing) {
    failingNotice.replaceChildren(...failing.map((endpoint) => element("li", {
      text: endpoint.client_name + "'s endpoint " + endpoint.url + " was disabled because every delivery failed for five days" +
        (endpoint.failing_since ? " (since " + when(endpoint.failing_since) + ")" : "") +
        ". Its events are kept and go out once it is enabled again" + (manager ? "." : "; ask an owner or admin."),
    })));
    failingNotice.hidden = failing.length === 0;
  }

  async function load() {
    const result = await api("GET", "/api/tenant/webhooks");
    if (!result.ok) {
      show(tableError, problemText(result));
      return;
    }
    const endpoints = result.body.data;
    noticeFor(endpoints.filter((e) => e.disabled_reason === "failing"));
    if (endpoints.length === 0) {
      body.replaceChildren(element("tr", {}, [element("td", { colspan: "6", className: "muted", text: "No webhook endpoints yet: API clients with the webhooks:manage scope register them." })]));
      return;
    }
    body.replaceChildren(...endpoints.map(row));
  }

  function lastAttempt(delivery) {
    const attempts = delivery.attempts;
    if (attempts.length === 0) return { response: "", latency: "" };
    const last = attempts[attempts.length - 1];
    return {
      response: last.status_code !== null ? "HTTP " + last.status_code : last.error_class,
      latency: last.latency_ms + " ms",
    };
  }

  function deliveryRow(endpoint, delivery) {
    const last = lastAttempt(delivery);
    const actions = [];
    if (manager) {
      actions.push(button("Resend", "Resend the " + delivery.event_type + " delivery of " + when(delivery.created_at), false, async () => {
        show(deliveriesError, "");
        show(deliveriesDone, "");
        const result = await api("POST", "/api/tenant/webhooks/" + encodeURIComponent(endpoint.id) + "/deliveries/" + encodeURIComponent(delivery.id) + "/resend");
        if (!result.ok) {
          show(deliveriesError, problemText(result));
          return;
        }
        show(deliveriesDone, "Queued again: it goes out now.");
        await openDeliveries(endpoint);
      }));
    }
    const status = delivery.status === "pending" && delivery.next_attempt_at ? "pending (next try " + when(delivery.next_attempt_at) + ")" : delivery.status;
    return element("tr", { "data-delivery-id": delivery.id }, [
      element("td", { text: when(delivery.created_at) }),
      element("td", {}, [element("code", { text: delivery.event_type })]),
      element("td", { text: status }),
      element("td", { text: String(delivery.attempts.length) }),
      element("td", { text: last.response }),
      element("td", { text: last.latency }),
      element("td", { className: "row-actions" }, actions),
    ]);
  }

  async function showPage(endpoint, before) {
    const query = "?limit=20" + (before ? "&before=" + encodeURIComponent(before) : "");
    const result = await api("GET", "/api/tenant/webhooks/" + encodeURIComponent(endpoint.id) + "/deliveries" + query);
    if (!result.ok) {
      show(deliveriesError, problemText(result));
      return;
    }
    const rows = result.body.data.map((delivery) => deliveryRow(endpoint, delivery));
    if (!before && rows.length === 0) {
      rows.push(element("tr", {}, [element("td", { colspan: "7", className: "muted", text: "No deliveries yet." })]));
    }
    if (before) deliveriesBody.append(...rows);
    else deliveriesBody.replaceChildren(...rows);
    shown = { endpoint, next_before: result.body.next_before || null };
    more.hidden = !shown.next_before;
  }

  async function openDeliveries(endpoint) {
    panelEndpoint.textContent = endpoint.client_name + " — " + endpoint.url;
    panel.hidden = false;
    show(deliveriesError, "");
    await showPage(endpoint, null);
  }

  more.addEventListener("click", () => {
    if (shown && shown.next_before) showPage(shown.endpoint, shown.next_before);
  });

  load();
})();
