// Show the Direct messages toggle only for webhook types that support it.
// Without this script the toggle shows for the selected type as rendered.
document.addEventListener("DOMContentLoaded", () => {
  const type = document.querySelector("select#type");
  const dm = document.getElementById("dm-fieldset");
  if (!type || !dm) return;
  const update = () => {
    const opt = type.options[type.selectedIndex];
    dm.hidden = !(opt && opt.dataset.dm === "true");
  };
  type.addEventListener("change", update);
  update();
});
