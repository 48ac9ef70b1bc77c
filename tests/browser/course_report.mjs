// Opens the course report page in headless Chromium, waits for its charts, measures how much of
// each canvas is drawn, and saves a screenshot. Env: REPORT_URL, AUTH, SHOT, PLAYWRIGHT (path of
// playwright-core's index.mjs), CHROMIUM. Prints JSON: {status, drawn: {id: share of painted pixels}}.
const { chromium } = await import(process.env.PLAYWRIGHT);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({
    viewport: { width: 1200, height: 1000 },
    extraHTTPHeaders: { Authorization: `Bearer ${process.env.AUTH}` },
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const response = await page.goto(process.env.REPORT_URL);
  await page.waitForSelector("body[data-charts=drawn]", { timeout: 15000 });
  const drawn = await page.evaluate(() => {
    const out = {};
    for (const canvas of document.querySelectorAll("canvas")) {
      const ctx = canvas.getContext("2d");
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
      out[canvas.id] = { share: painted / (canvas.width * canvas.height), width: canvas.clientWidth, height: canvas.clientHeight };
    }
    return out;
  });
  await page.screenshot({ path: process.env.SHOT, fullPage: true });
  console.log(JSON.stringify({ status: response.status(), type: response.headers()["content-type"], drawn, errors }));
} finally {
  await browser.close();
}
