// Shows the newest frame from the app's preview:// protocol in an <img>:
// the webview loads, decodes and paints it natively, which costs WebKit far
// less than drawing each frame into a canvas from script. One frame in
// flight at a time, so a slow machine lowers the rate instead of queueing.
const FRAME_URL = navigator.userAgent.includes("Windows")
  ? "http://preview.localhost/frame.jpg"
  : "preview://localhost/frame.jpg";
const TARGET_FPS = 20;

export function createPreview(image: HTMLImageElement) {
  let drawn = 0;
  let requested = 0;
  let next = 0;
  const request = () => {
    if (document.hidden) {
      setTimeout(request, 500);
      return;
    }
    requested = performance.now();
    // A fresh URL each time: the protocol answers no-store, but an unchanged src would not reload.
    image.src = `${FRAME_URL}?n=${next++}`;
  };
  const schedule = () => setTimeout(request, Math.max(0, 1000 / TARGET_FPS - (performance.now() - requested)));
  image.addEventListener("load", () => {
    // Frames shown so far: how the preview's rate is measured.
    image.dataset.frames = String(++drawn);
    schedule();
  });
  // No frame yet (the capture is starting or reopening): try again shortly.
  image.addEventListener("error", () => setTimeout(request, 200));
  request();
}
