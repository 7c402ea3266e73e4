// Pulls the newest frame from the app's preview:// protocol and draws it.
// One request in flight at a time, so a slow decode lowers the rate instead of queueing.
const FRAME_URL = navigator.userAgent.includes("Windows")
  ? "http://preview.localhost/frame.jpg"
  : "preview://localhost/frame.jpg";
const TARGET_FPS = 20;

export function createPreview(canvas: HTMLCanvasElement) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  let last = 0;
  const tick = async (now: number) => {
    if (now - last >= 1000 / TARGET_FPS && !document.hidden) {
      last = now;
      try {
        const response = await fetch(FRAME_URL, { cache: "no-store" });
        if (response.ok) {
          const bitmap = await createImageBitmap(await response.blob());
          if (canvas.width !== bitmap.width) canvas.width = bitmap.width;
          if (canvas.height !== bitmap.height) canvas.height = bitmap.height;
          ctx.drawImage(bitmap, 0, 0);
          bitmap.close();
        }
      } catch {
        // No frame yet; try again on the next tick.
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
