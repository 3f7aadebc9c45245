// The patient page's print button (no inline script: the page's CSP allows only our own files).
"use strict";

document.querySelectorAll("[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
