// The browsable API's filter forms: a filter left empty is left out of the query, since an empty
// value is refused (only a parameter that is absent means "no filter").
document.querySelectorAll("form.filter-form").forEach(function (form) {
  form.addEventListener("submit", function () {
    form.querySelectorAll("input, select").forEach(function (field) {
      if (field.name && field.value === "") {
        field.disabled = true;
      }
    });
  });
});
