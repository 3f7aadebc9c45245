// Settings → Staff: lists the clinic's staff, changes roles, deactivates and reactivates, and
// adds staff members, all through /api/tenant/users.
"use strict";

(function () {
  const { api, show, clearErrors, showProblem, element } = window.ClinicGate;
  const root = document.getElementById("users-root");
  const myRole = root.dataset.myRole;
  const body = document.getElementById("users-body");
  const tableError = document.getElementById("users-error");
  const form = document.getElementById("add-user-form");
  const done = document.getElementById("add-user-done");
  const roles = [["owner", "Owner"], ["admin", "Admin"], ["clinician", "Clinician"]];

  // Admins may not create, promote or change owners: hide what the server would refuse.
  if (myRole !== "owner") {
    form.querySelector('option[value="owner"]').remove();
  }

  function problemText(result) {
    const problem = result.body || {};
    return (problem.detail || "The change failed (" + result.status + ").") + (problem.request_id ? " (Request id: " + problem.request_id + ")" : "");
  }

  async function change(user, patch) {
    show(tableError, "");
    const result = await api("PATCH", "/api/tenant/users/" + user.id, patch);
    if (!result.ok) show(tableError, problemText(result));
    await load();
  }

  function row(user) {
    const locked = myRole !== "owner" && user.role === "owner";
    const select = element("select", { "aria-label": "Role of " + user.email });
    roles.forEach(([value, label]) => {
      if (value === "owner" && myRole !== "owner" && user.role !== "owner") return;
      const option = element("option", { value, text: label });
      if (value === user.role) option.selected = true;
      select.append(option);
    });
    select.disabled = locked;
    select.addEventListener("change", () => change(user, { role: select.value }));

    const toggle = element("button", {
      type: "button",
      className: user.active ? "button button-danger button-small" : "button button-secondary button-small",
      text: user.active ? "Deactivate" : "Reactivate",
      "aria-label": (user.active ? "Deactivate " : "Reactivate ") + user.email,
    });
    toggle.disabled = locked;
    toggle.addEventListener("click", async () => {
      if (user.active) {
        if (!window.confirm("Deactivate " + user.email + "? They are logged out everywhere and can no longer log in.")) return;
        show(tableError, "");
        const result = await api("DELETE", "/api/tenant/users/" + user.id);
        if (!result.ok) show(tableError, problemText(result));
        await load();
      } else {
        await change(user, { active: true });
      }
    });

    return element("tr", { "data-user-id": user.id }, [
      element("td", { className: "email", text: user.email }),
      element("td", {}, [select]),
      element("td", {}, [element("span", { className: user.active ? "pill pill-on" : "pill pill-off", text: user.active ? "Active" : "Deactivated" })]),
      element("td", {}, [toggle]),
    ]);
  }

  async function load() {
    const result = await api("GET", "/api/tenant/users");
    if (!result.ok) {
      show(tableError, problemText(result));
      return;
    }
    body.replaceChildren(...result.body.map(row));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    show(done, "");
    const result = await api("POST", "/api/tenant/users", {
      email: form.elements.namedItem("email").value.trim(),
      role: form.elements.namedItem("role").value,
      password: form.elements.namedItem("password").value,
    });
    if (result.ok) {
      form.reset();
      show(done, result.body.email + " can now log in.");
      await load();
      return;
    }
    showProblem(form, result, "new-", {
      email_taken: { field: "email", message: "Someone in this clinic already uses this e-mail address." },
    });
  });

  load();
})();
