// The sign-up form on the landing page: live preview of the clinic's address, then
// POST /api/signup and on to the new clinic's own login page.
"use strict";

(function () {
  const { api, clearErrors, showProblem } = window.ClinicGate;
  const form = document.getElementById("signup-form");
  const subdomain = document.getElementById("subdomain");
  const preview = document.getElementById("subdomain-preview");
  const url = document.getElementById("subdomain-url");
  const submit = document.getElementById("signup-submit");

  function updatePreview() {
    const label = subdomain.value.trim().toLowerCase() || "your-clinic";
    url.textContent = preview.dataset.scheme + "://" + label + "." + preview.dataset.host;
  }
  subdomain.addEventListener("input", updatePreview);
  updatePreview();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    submit.textContent = "Creating your clinic…";
    const result = await api("POST", "/api/signup", {
      clinic_name: form.elements.namedItem("clinic_name").value,
      subdomain: form.elements.namedItem("subdomain").value.trim(),
      email: form.elements.namedItem("email").value.trim(),
      password: form.elements.namedItem("password").value,
    });
    if (result.status === 201 && result.body && result.body.login_url) {
      window.location.assign(result.body.login_url + "?welcome=1");
      return;
    }
    submit.disabled = false;
    submit.textContent = "Create clinic";
    showProblem(form, result, "", {
      subdomain_taken: { field: "subdomain", message: "This subdomain is already taken. Choose another." },
    });
  });
})();
