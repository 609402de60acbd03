"""Small documents of every supported type, built in code (no binary fixtures in the repo)."""

from __future__ import annotations

import json


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds ``lines`` (Helvetica, one line each)."""
    escaped = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in lines]
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    ops += [f"({line}) Tj T*" for line in escaped]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


SUPPORTED: dict[str, str | bytes] = {
    "notes.txt": "The staging cluster lives in Falkenstein and restarts every Sunday.\n",
    "guide.md": "# Deploy guide\n\nRun `make deploy` after the **canary** checks pass.\n",
    "util.py": 'def fibonacci(n: int) -> int:\n    """Iterative fibonacci sequence."""\n'
    "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "config.json": json.dumps({"service": "billing", "retention_days": 45, "region": "nbg1"}),
    "page.html": "<html><head><title>Pricing</title><style>p{color:red}</style></head><body>"
    "<h1>Plans</h1><p>The team plan costs forty euros per seat.</p>"
    "<script>var hidden='javascript secret';</script></body></html>",
    "report.pdf": make_pdf(["Quarterly report", "Revenue grew by eleven percent in Lisbon."]),
}

EXPECTED_WORDS = {
    "notes.txt": "Falkenstein",
    "guide.md": "canary",
    "util.py": "fibonacci",
    "config.json": "retention_days",
    "page.html": "forty euros",
    "report.pdf": "Lisbon",
}
