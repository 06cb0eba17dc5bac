from penny_jupyter.artifacts.html import to_html, to_text


def _artifact(title="Company KPIs · MTD"):
    return {
        "id": "art_1", "tenant": "demo", "type": "dashboard", "title": title, "version": 1, "createdAt": "2026-11-18",
        "source": {"tool": "get_company_kpis", "params": {}},
        "spec": {"layout": "grid", "widgets": [
            {"type": "metric", "name": "revenue", "label": "Revenue", "value": 1234567.0, "formatted": "$1.23M",
             "previous": 1100000.0, "change_pct": 12.2, "formatted_change": "▲ 12.2%", "unit": "currency",
             "format": "currency_compact", "up_is_good": True, "sparkline": [1.0, 2.0]},
            {"type": "metric", "name": "uptime", "label": "Uptime", "value": 0.9987, "formatted": "99.87%",
             "previous": 0.9999, "change_pct": -0.12, "unit": "percent", "format": "percent_2", "up_is_good": True},
            {"type": "table", "title": "Deals <b>", "columns": [{"key": "name", "label": "Deal", "format": "text"},
                                                                {"key": "amount", "label": "Amount", "format": "currency_compact"}],
             "rows": [{"name": "<img src=x onerror=alert(1)>", "amount": 250000}]},
            {"type": "chart", "title": "Revenue by region", "kind": "bar",
             "figure": {"data": [{"type": "bar", "x": ["NA", "EMEA"], "y": [5, 3], "name": "Revenue"}], "layout": {}}},
            {"type": "timeline", "title": "Incidents", "events": [
                {"time": "2026-11-08T14:21:00", "title": "SEV1 Outage", "severity": "sev1", "detail": "4.6 h"}]},
            {"type": "grid", "title": "Service status", "items": [{"name": "api", "status": "degraded", "detail": "x"}]},
            {"type": "gauge", "title": "Gross margin", "value": 0.86, "formatted": "86.0%", "min": 0, "max": 1,
             "unit": "percent", "thresholds": []},
        ]},
    }


def test_numbers_and_arrows_in_html_and_text():
    html = to_html(_artifact())
    assert "<h3>Company KPIs · MTD</h3>" in html
    assert "$1.23M" in html and "▲ 12.2%" in html and "99.87%" in html and "▼ 0.1%" in html
    assert "<table>" in html and "$250.00K" in html and "EMEA" in html and "<td>3</td>" in html
    assert "SEV1 Outage" in html and "degraded" in html and "86.0%" in html
    assert "<script" not in html and "style" not in html
    text = to_text(_artifact())
    assert "Revenue" in text and "$1.23M" in text and "▲ 12.2%" in text and "▼ 0.1%" in text
    lines = text.splitlines()
    rev, up = next(line for line in lines if "Revenue" in line and "$" in line), next(l for l in lines if "Uptime" in l)
    assert rev.index("$1.23M") + len("$1.23M") == up.index("99.87%") + len("99.87%")  # values right-aligned


def test_everything_is_escaped():
    html = to_html(_artifact(title='<script>alert("x")</script>'))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Deals &lt;b&gt;" in html


def test_bare_table_and_document():
    t = {"id": "a", "type": "table", "title": "T", "spec": {"columns": [{"key": "a", "label": "A"}], "rows": [{"a": 1}]}}
    assert "<th>A</th>" in to_html(t) and "A" in to_text(t)
    doc = {"id": "b", "type": "document", "title": "Notes", "spec": {"markdown": "a < b"}}
    assert "a &lt; b" in to_html(doc) and "a < b" in to_text(doc)
