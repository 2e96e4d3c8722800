// The report's glue: build the viewer from the inlined data and wire the cell buttons.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("cw-data").textContent);
  const viewer = new CharwiseViewer.Viewer(document.getElementById("viewer"), data);
  CharwiseViewer.attachSelectPanel(viewer, document.getElementById("selection"));
  for (const b of document.querySelectorAll("button.cw-pick")) {
    b.addEventListener("click", () => {
      viewer.setCell(Number(b.dataset.layer), Number(b.dataset.cell));
      document.getElementById("text").scrollIntoView({ behavior: "smooth" });
    });
  }
  window.charwiseViewer = viewer;  // for the browser tests and the curious
})();
