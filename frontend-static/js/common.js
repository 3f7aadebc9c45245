// Helpers shared by ClinicGate's pages: JSON calls to the same origin, and showing a problem
// (application/problem+json) next to the form fields it names. No framework, no inline script.
"use strict";

window.ClinicGate = (function () {
  // Sends the user to log in and then back to this page (path and query), as the server does for
  // pages. A session can vanish under an open page (it expired, another tab logged out, the
  // session store lost it), and an error message would leave the user stuck on a dead page.
  function reLogIn() {
    const here = window.location.pathname + window.location.search;
    window.location.assign("/login?next=" + encodeURIComponent(here));
    // Never settles: the page is going away, so callers must not render an error meanwhile.
    return new Promise(() => {});
  }

  // Calls the JSON API on this origin; resolves to {ok, status, body, headers}. A 401 (no valid
  // session) does not resolve: the user is sent to log in instead.
  async function api(method, url, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      return { ok: false, status: 0, body: { detail: "ClinicGate could not be reached. Check your connection and try again." } };
    }
    if (response.status === 401) return reLogIn();
    let parsed = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try { parsed = await response.json(); } catch (err) { parsed = null; }
    }
    return { ok: response.ok, status: response.status, body: parsed, headers: response.headers };
  }

  function show(element, text) {
    if (!element) return;
    element.textContent = text;
    element.hidden = !text;
  }

  // Clears the errors shown in `form` (fields' error paragraphs are `{prefix}{field}-error`).
  function clearErrors(form, prefix) {
    form.querySelectorAll(".field-error").forEach((el) => show(el, ""));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    show(form.querySelector(".notice-error"), "");
  }

  // Shows a problem: each field error under its field, anything else in the form's notice.
  function showProblem(form, result, prefix, messages) {
    prefix = prefix || "";
    const problem = result.body || {};
    const general = form.querySelector(".notice-error");
    let placed = false;
    (problem.errors || []).forEach((error) => {
      // Field names such as rules[0].channel are not valid in a selector unescaped.
      const input = form.querySelector("#" + CSS.escape(prefix + error.field));
      const slot = form.querySelector("#" + CSS.escape(prefix + error.field + "-error"));
      if (input && slot) {
        input.setAttribute("aria-invalid", "true");
        show(slot, error.message);
        if (!placed) input.focus();
        placed = true;
      }
    });
    if (placed) return;
    const custom = messages && messages[problem.code];
    if (custom && custom.field) {
      const input = form.querySelector("#" + prefix + custom.field);
      const slot = form.querySelector("#" + prefix + custom.field + "-error");
      if (input && slot) {
        input.setAttribute("aria-invalid", "true");
        show(slot, custom.message);
        input.focus();
        return;
      }
    }
    let text = (custom && custom.message) || problem.detail || "Something went wrong (" + result.status + "). Please try again.";
    if (result.status === 429) {
      const after = result.headers && result.headers.get("Retry-After");
      text = "Too many attempts. Please wait" + (after ? " " + Math.ceil(after / 60) + " minute(s)" : " a moment") + " and try again.";
    }
    if (problem.request_id) text += " (Request id: " + problem.request_id + ")";
    show(general, text);
  }

  // Buttons with data-copy="element-id" copy that element's text.
  function wireCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach((button) => {
      button.addEventListener("click", async () => {
        const source = document.getElementById(button.dataset.copy);
        if (!source) return;
        try {
          await navigator.clipboard.writeText(source.textContent.trim());
          button.textContent = "Copied";
        } catch (err) {
          const range = document.createRange();
          range.selectNodeContents(source);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          button.textContent = "Selected — press Ctrl+C";
        }
        setTimeout(() => { button.textContent = "Copy"; }, 2500);
      });
    });
  }

  function element(tag, attributes, children) {
    const el = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([key, value]) => {
      if (key === "text") el.textContent = value;
      else if (key === "className") el.className = value;
      else el.setAttribute(key, value);
    });
    (children || []).forEach((child) => el.append(child));
    return el;
  }

  return { api, show, clearErrors, showProblem, wireCopyButtons, element };
})();
