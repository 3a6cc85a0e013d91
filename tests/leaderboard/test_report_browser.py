"""The HTML report in a real headless browser (Debian's chromium driven by Playwright): every
image loads, nothing is fetched from the network, and the page logs no console errors."""

from pathlib import Path

from synthbench.leaderboard import render_all
from synthbench.runner.run import run_suite
from synthbench.runner.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]


def test_report_loads_offline_with_every_plot(tmp_path, chromium_launch):
    from playwright.sync_api import sync_playwright

    text = (ROOT / "benchmarks" / "smoke.toml").read_text()
    text += '\n[data.chest_ct]\nspec = "phantom:chest_ct?n=160&size=16&view=nodule"\n'
    text += (
        '\n[[experiments]]\ntask = "biomarker-survival"\ndata = "chest_ct"\n'
        "real_fractions = [1.0]\n"
    )
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    report = run_suite(load_suite(tmp_path / "s.toml"), out, cache=tmp_path / "cache", workers=2)
    assert not report.failed, report.failed
    render_all(out)
    page_path = out / "report.html"
    html = page_path.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html

    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_launch)
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])"
        )
        tables = page.locator("table").count()
        title = page.title()
        browser.close()
    assert not errors, errors
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert "smoke" in title and tables >= 3
    alts = [alt for alt, _, _ in images]
    broken = [alt for alt, complete, width in images if not complete or width == 0]
    assert not broken, broken
    assert any(a.startswith("gain vs synthetic ratio") for a in alts)
    assert any("image quality against downstream gain" in a for a in alts)
    assert any("kaplan_meier" in a for a in alts)
    assert any(a.startswith("samples/") for a in alts)
    assert any(a.startswith("quality/") for a in alts)  # the closest-pairs grids
