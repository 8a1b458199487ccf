#!/usr/bin/env python3
"""Writes a `dsg seed` fixture for the benchmark world:
USERS users, DATASETS datasets, GRANTS grants, TOKENS_PER_USER tokens each.
A fifth argument `versions` gives every dataset a version `v1` and adds the
service `neuprint` (what the authorize benchmark asks about)."""
import json, sys

users = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
datasets = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
grants = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
per_user = int(sys.argv[4]) if len(sys.argv) > 4 else 10
perms = ["view", "edit", "manage", "admin"]

doc = {
    "datasets": [{"name": f"ds{d:04d}"} for d in range(datasets)],
    "users": [
        {"key": f"u{u}", "email": f"user{u}@bench.example.org", "name": f"User {u}",
         "tokens": [{"key": f"t{k}", "expires_in_s": None} for k in range(per_user)]}
        for u in range(users)
    ],
    "groups": [
        {"name": f"lab{g}", "members": [{"user": f"u{u}"} for u in range(g, users, 50)],
         "permissions": [{"dataset": f"ds{(g * 13) % datasets:04d}", "permission": "view"}]}
        for g in range(50)
    ],
    "grants": [],
}
per = max(1, grants // users)
seen = set()
for u in range(users):
    for k in range(per):
        d = (u * 7 + k * 97) % datasets
        p = perms[(u + k) % 4]
        if (u, d, p) in seen:
            continue
        seen.add((u, d, p))
        doc["grants"].append({"user": f"u{u}", "dataset": f"ds{d:04d}", "permission": p})
if len(sys.argv) > 5 and sys.argv[5] == "versions":
    for d in doc["datasets"]:
        d["versions"] = [{"version": "v1", "ordinal": 1}]
    doc["services"] = [{"name": "neuprint"}]
json.dump(doc, sys.stdout)
