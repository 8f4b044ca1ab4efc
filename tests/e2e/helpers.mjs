// Small helpers around a WebdriverIO browser driving the Cloze Studio window.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

export const SHORT = 10_000; // ordinary UI reaction
export const LONG = 60_000; // import, model load, evaluation

export function makeHelpers(browser, { screenshotDir }) {
  const $t = (id) => browser.$(`[data-testid="${id}"]`);
  const $$t = (id) => browser.$$(`[data-testid="${id}"]`);

  /**
   * Rendered text of an element (innerText). WebKitWebDriver's "Get Element Text" returns "" for
   * elements styled `overflow: hidden; text-overflow: ellipsis` (e.g. the header's project name),
   * so the text is read in the page instead.
   */
  async function txt(el) {
    return String(await browser.execute((e) => e.innerText, await el)).trim();
  }

  async function shown(id, timeout = SHORT) {
    const el = await $t(id);
    await el.waitForDisplayed({ timeout, timeoutMsg: `data-testid="${id}" not displayed within ${timeout} ms` });
    return el;
  }

  async function gone(id, timeout = SHORT) {
    const el = await $t(id);
    await el.waitForDisplayed({ timeout, reverse: true, timeoutMsg: `data-testid="${id}" still displayed after ${timeout} ms` });
  }

  async function text(id, timeout = SHORT) {
    return txt(await shown(id, timeout));
  }

  /** Wait until the element's visible text matches `re` (RegExp) and return that text. */
  async function textMatches(id, re, timeout = SHORT) {
    await shown(id, timeout);
    let last = "";
    await browser.waitUntil(async () => {
      // Found again on every try: a re-render may have replaced the element found first.
      const el = await $t(id);
      last = (await el.isExisting()) ? await txt(el) : "";
      return re.test(last);
    }, { timeout, interval: 100, timeoutMsg: `data-testid="${id}" text never matched ${re}; last text: ${JSON.stringify(last.slice(0, 300))}` });
    return last;
  }

  async function click(id, timeout = SHORT) {
    const el = await shown(id, timeout);
    await el.waitForEnabled({ timeout, timeoutMsg: `data-testid="${id}" stayed disabled for ${timeout} ms` });
    await el.click();
    return el;
  }

  async function value(id) {
    return (await $t(id)).getValue();
  }

  /** Replace the content of a text input / textarea by typing, as a user would. */
  async function typeInto(id, str, { timeout = SHORT } = {}) {
    const el = await shown(id, timeout);
    await el.click();
    if ((await el.getValue()) !== "") {
      // Select all + delete; React sees real input events (WebDriver "clear" bypasses them).
      await browser.keys(["Control", "a"]);
      await browser.keys(["Backspace"]);
    }
    if ((await el.getValue()) !== "") {
      await el.clearValue();
    }
    await el.addValue(str);
    await browser.waitUntil(async () => (await el.getValue()) === str, {
      timeout: 5000, interval: 50,
      timeoutMsg: `data-testid="${id}" value is ${JSON.stringify(await el.getValue())}, expected ${JSON.stringify(str)}`,
    });
    return el;
  }

  /**
   * Choose an <option> of a <select> by value. Uses WebDriver's option click first; if WebKitGTK's
   * native popup swallows it, falls back to setting the value and dispatching "change" (what React
   * listens to), and records that the fallback was needed.
   */
  const selectFallbacks = [];
  async function selectValue(id, val, timeout = SHORT) {
    const el = await shown(id, timeout);
    await browser.waitUntil(async () => (await el.$$(`option`).map((o) => o.getAttribute("value"))).includes(val), {
      timeout, interval: 100,
      timeoutMsg: `data-testid="${id}" has no option with value ${JSON.stringify(val)}; options: ${JSON.stringify(await el.$$("option").map((o) => o.getAttribute("value")))}`,
    });
    if ((await el.getValue()) === val) return el;
    try {
      await el.selectByAttribute("value", val);
    } catch {
      // fall through to the fallback
    }
    const ok = await browser.waitUntil(async () => (await el.getValue()) === val, { timeout: 1500, interval: 50 }).catch(() => false);
    if (!ok) {
      selectFallbacks.push(id);
      await browser.execute((sel, v) => {
        const s = document.querySelector(sel);
        const setter = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, "value").set;
        setter.call(s, v);
        s.dispatchEvent(new Event("change", { bubbles: true }));
      }, `[data-testid="${id}"]`, val);
      await browser.waitUntil(async () => (await el.getValue()) === val, {
        timeout: 3000, interval: 50, timeoutMsg: `could not select ${JSON.stringify(val)} in data-testid="${id}"`,
      });
    }
    return el;
  }

  /** Options of a <select> as {value, text}. */
  async function options(id) {
    const el = await shown(id);
    return el.$$("option").map(async (o) => ({ value: await o.getAttribute("value"), text: await txt(o) }));
  }

  /** Fails when the app's error banner is showing (with its text). */
  async function assertNoError(where) {
    const banner = await $t("error-banner");
    if (await banner.isDisplayed().catch(() => false)) {
      const msg = await txt(banner.$(".error-text")).catch(() => txt(banner));
      assert.fail(`error banner visible ${where}: ${msg}`);
    }
  }

  /** Scroll the app's scrolling pane (.content) to the top-left, or bring an element to its top. */
  async function scrollTo(target = null) {
    const el = target ? await target : null;
    await browser.executeAsync((e, done) => {
      const c = document.querySelector(".content");
      if (c) {
        c.scrollLeft = 0;
        c.scrollTop = e ? c.scrollTop + e.getBoundingClientRect().top - c.getBoundingClientRect().top - 12 : 0;
      }
      // Let the scroll paint before a screenshot.
      requestAnimationFrame(() => requestAnimationFrame(() => done()));
    }, el);
  }

  /**
   * Layout check run with every screenshot: does the visible screen overflow sideways? Returns a
   * description of the widest offenders (outermost elements sticking out of .content), or null.
   */
  async function horizontalOverflow() {
    return browser.execute(() => {
      const c = document.querySelector(".content");
      if (!c || c.scrollWidth <= c.clientWidth + 1) return null;
      const edge = c.getBoundingClientRect().left + c.clientWidth - c.scrollLeft;
      const screen = c.querySelector(".screen:not([hidden])") ?? c;
      const sticks = (e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > edge + 1;
      const desc = (e) => `${e.tagName.toLowerCase()}${e.dataset?.testid ? `[data-testid=${e.dataset.testid}]` : ""}${typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\s+/).join(".") : ""}`;
      // Outermost elements that stick out although their parent does not.
      const out = [...screen.querySelectorAll("*")].filter((e) => sticks(e) && e.parentElement && !sticks(e.parentElement))
        .map((e) => `${desc(e)} in ${desc(e.parentElement)} (right edge ${Math.round(e.getBoundingClientRect().right - edge)}px past the pane)`);
      return `.content scrollWidth ${c.scrollWidth}px > clientWidth ${c.clientWidth}px; sticking out: ${out.slice(0, 5).join("; ") || "?"}`;
    }).catch((e) => `check failed: ${e.message}`);
  }
  const layoutWarnings = [];

  const screenshots = [];
  /** WebDriver screenshot of the window; falls back to an X11 root-window grab. */
  async function screenshot(name) {
    fs.mkdirSync(screenshotDir, { recursive: true });
    const file = path.join(screenshotDir, `${name}.png`);
    try {
      await browser.saveScreenshot(file);
      if (fs.statSync(file).size < 1000) throw new Error("suspiciously small screenshot");
    } catch (e) {
      try {
        execFileSync("import", ["-window", "root", file], { stdio: "ignore", timeout: 15_000 });
        console.log(`[e2e] screenshot ${name}: WebDriver failed (${e.message}); used import -window root`);
      } catch (e2) {
        console.log(`[e2e] screenshot ${name} failed: ${e.message}; import: ${e2.message}`);
        return null;
      }
    }
    screenshots.push(file);
    const over = await horizontalOverflow();
    if (over) {
      layoutWarnings.push(`${name}: ${over}`);
      console.log(`[e2e] LAYOUT WARNING on ${name}: horizontal overflow — ${over}`);
    }
    return file;
  }

  return { scrollTo, horizontalOverflow, layoutWarnings, txt, $t, $$t, shown, gone, text, textMatches, click, value, typeInto, selectValue, options, assertNoError, screenshot, screenshots, selectFallbacks };
}
