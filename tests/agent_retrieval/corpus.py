"""A small labelled corpus for retrieval quality: passages, and queries with their answer.

Queries are phrased the way people ask (other word forms, filler, partial vocabulary), so
neither full text nor the bag-of-words vectors of the fake provider get all of them.
"""

from __future__ import annotations

PASSAGES: dict[str, str] = {
    "backup.md": "Nightly backups of the Postgres cluster are written to the cold-archive "
    "bucket at 02:00 UTC and kept for thirty-five days before deletion.",
    "oncall.md": "The on-call engineer is paged through Opsgenie; escalation to the team lead "
    "happens after fifteen minutes without acknowledgement.",
    "deploy.md": "Deployments go through the canary stage first; promotion to all regions "
    "requires the error rate to stay below one percent for an hour.",
    "vpn.md": "Remote staff connect with WireGuard to vpn.internal.example; keys are rotated "
    "every ninety days by the security team.",
    "expenses.md": "Travel expenses are reimbursed within two weeks when the receipt is "
    "uploaded to the finance portal with the project code.",
    "holidays.md": "Employees receive twenty-eight days of paid vacation per year, and unused "
    "days may be carried over until the end of March.",
    "laptops.md": "New hires get a laptop on their first day; the device is encrypted with "
    "full-disk encryption and enrolled in mobile device management.",
    "incident.md": "After every major incident a blameless postmortem is written within five "
    "working days and reviewed at the Friday operations meeting.",
    "billing.md": "Customers are invoiced monthly in euros; failed card payments are retried "
    "three times over seven days before the account is suspended.",
    "refunds.md": "Refunds are granted within thirty days of purchase for annual plans; "
    "monthly plans are not refundable once the billing period has started.",
    "api_limits.md": "The public API allows six hundred requests per minute per token; "
    "exceeding it returns HTTP 429 with a Retry-After header.",
    "logging.md": "Application logs are shipped to Loki and retained for fourteen days; audit "
    "logs are kept for one year in object storage.",
    "interviews.md": "Engineering interviews have three rounds: a take-home exercise, a "
    "systems design conversation and a meeting with the hiring manager.",
    "office.md": "The Lisbon office is open from eight in the morning to eight in the "
    "evening; visitors must register at the front desk.",
    "dns.md": "DNS records are managed in Terraform; changes are applied by the CI pipeline "
    "after review and propagate within five minutes.",
    "secrets.md": "Secrets are stored in Vault; applications fetch short-lived credentials "
    "at startup and never write them to disk.",
    "accessibility.md": "Every web page must meet WCAG 2.1 level AA, including keyboard "
    "navigation and sufficient colour contrast.",
    "coffee.md": "The coffee machine on the third floor is descaled every Monday; report "
    "faults to facilities through the help desk.",
    "release.md": "Mobile app releases ship every second Tuesday after the QA sign-off and "
    "the store review have both completed.",
    "pto_requests.md": "Time off requests are submitted in the HR tool at least two weeks "
    "ahead and approved by the direct manager.",
}

DISTRACTORS: dict[str, str] = {
    "d_backup_laptops.md": "Laptop backups are optional; keep your work in the shared drive, "
    "which the IT team does not keep beyond a year.",
    "d_paging_tool.md": "Opsgenie licences are paid yearly; ask the team lead before adding "
    "a new user to the paging tool.",
    "d_error_budget.md": "Each service has an error budget per quarter; the budget resets "
    "on the first day of the quarter.",
    "d_keys_office.md": "Office keys are handed out at the front desk and must be returned "
    "when you leave the company.",
    "d_travel_policy.md": "Book travel through the agency portal; business class is allowed "
    "for flights longer than six hours.",
    "d_days_meeting.md": "The all-hands meeting happens on the first Monday of every month "
    "and lasts an hour.",
    "d_card_office.md": "Your office access card is activated on your first day and works in "
    "every building.",
    "d_api_docs.md": "The public API documentation is generated from the OpenAPI file on every "
    "merge to the main branch.",
    "d_logs_privacy.md": "Never log personal data; the privacy team reviews logging changes "
    "that touch customer records.",
    "d_release_notes.md": "Release notes for the web app are written by the product manager "
    "and published on the blog.",
}

QUERIES: list[tuple[str, str]] = [
    ("how long are database backups kept", "backup.md"),
    ("who gets paged when production breaks at night", "oncall.md"),
    ("what error rate is needed before promoting a canary", "deploy.md"),
    ("how often are wireguard keys rotated", "vpn.md"),
    ("when will my travel receipt be paid back", "expenses.md"),
    ("how many vacation days do I get each year", "holidays.md"),
    ("is my new laptop encrypted", "laptops.md"),
    ("when is the postmortem written after an incident", "incident.md"),
    ("what happens when a card payment fails", "billing.md"),
    ("can I get my money back on a monthly plan", "refunds.md"),
    ("what is the rate limit of the public api", "api_limits.md"),
    ("how long do we retain application logs", "logging.md"),
    ("how many interview rounds are there for engineers", "interviews.md"),
    ("opening hours of the Lisbon office", "office.md"),
    ("how do I change a DNS record", "dns.md"),
    ("where should applications keep their credentials", "secrets.md"),
    ("which accessibility standard do web pages follow", "accessibility.md"),
    ("the coffee machine is broken, who do I tell", "coffee.md"),
    ("how frequently do we release the mobile app", "release.md"),
    ("how far ahead must I ask for time off", "pto_requests.md"),
]
