"""What `make bench` loads: the read paths, their twins on the peer and in the API, and which of them
are measured at which data size. bench/run.py drives them; bench/results.py judges them against the targets."""

DEEP = "grades sort=-final_grade page=1900"
DEEP_SEEK = "grades sort=-final_grade after row 94,950 (keyset)"  # the same page, reached by its cursor
DEEP_CADETS = "cadets page=1900"  # the roster's default order, page 1,900, against the peer's page 1,900
# (label, path, kind, the peer's equivalent or None): kind "api" uses the token, "page" the session cookie.
# The peer cannot sort grades, so its deep page is page 1,900 in id order.
READ_PATHS = [
    ("cadets limit=50 (page 1)", "/api/cadets?limit=50", "api", "/api/cadets?limit=50"),
    ("cadets limit=100", "/api/cadets?limit=100", "api", "/api/cadets?limit=100"),
    ("grades limit=100", "/api/grades?limit=100", "api", "/api/grades?limit=100"),
    ("cadets company=Alpha limit=50", "/api/cadets?company=Alpha&limit=50", "api",
     "/api/cadets?company=Alpha&limit=50"),
    ("grades limit=50", "/api/grades?limit=50", "api", None),
    (DEEP, "/api/grades?sort=-final_grade&page=1900&limit=50", "api", "/api/grades?page=1900&limit=50"),
    (DEEP_SEEK, "/api/grades?sort=-final_grade&limit=50&after={anchor}", "api", "/api/grades?page=1900&limit=50"),
    (DEEP_CADETS, "/api/cadets?page=1900&limit=50", "api", "/api/cadets?page=1900&limit=50"),
    ("cadets HTML page (50 rows)", "/cadets/?per_page=50", "page", None),
    ("grades HTML page (50 rows)", "/grades/?per_page=50", "page", None),
]
HTML_TWINS = {"cadets HTML page (50 rows)": "cadets limit=50 (page 1)", "grades HTML page (50 rows)": "grades limit=50"}
# at 100k: the deep pages against the peer, memory under load
BIG_PATHS = ("cadets limit=50 (page 1)", DEEP, DEEP_SEEK, DEEP_CADETS)
