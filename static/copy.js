// Copy buttons for the code samples: <button data-copy="ID" hidden> copies the
// text of the element with that id. Buttons stay hidden without the Clipboard API.
"use strict";

document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(source.textContent).then(
      () => flash(button, "Copied"),
      () => flash(button, "Select and copy"),
    );
  });
});

function flash(button, text) {
  button.textContent = text;
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1600);
}
