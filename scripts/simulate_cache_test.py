#!/usr/bin/env python3
"""Checks of scripts/simulate_cache.py: its formulas against the reference's
figures and against its own Monte Carlo, its bounds against the deployed
settings, and its doc rewrite. Run by `make test` (scripts/test.sh).

    python3 scripts/simulate_cache_test.py
"""
import re
import sys
import tempfile
import unittest
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulate_cache as sim  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def template_default(name: str) -> float:
    """A parameter's Default in template.yaml, read without a YAML library."""
    text = (ROOT / "template.yaml").read_text()
    block = re.search(rf"^  {name}:\n((?:    .*\n)+)", text, re.M)
    return float(re.search(r"^    Default: (\S+)", block.group(1), re.M).group(1))


class Formulas(unittest.TestCase):
    def test_a_flush_every_second_caps_the_hit_rate_near_the_references_47_percent(self):
        # reference/authorizer-cache.md: Zipf 1.0, whole-stage flush each second.
        table = sim.reference_table(sim.Params())
        self.assertAlmostEqual(table[1.0][1], 0.47, delta=0.01)
        for s, row in table.items():
            no_flush, every_1, every_10, every_60 = row[:4]
            self.assertLess(every_1, every_10, s)
            self.assertLess(every_10, every_60, s)
            self.assertLess(every_60, no_flush, s)

    def test_today_costs_what_the_reference_says(self):
        today = sim.evaluate(sim.today(sim.Params()))
        self.assertEqual(today["gateway_hit"], 0)
        self.assertAlmostEqual(today["invocations"], 1e6)
        self.assertAlmostEqual(today["rcu"], 2e6)
        self.assertAlmostEqual(today["cost"], 0.46, delta=0.005)

    def test_more_changes_mean_fewer_gateway_hits_and_more_flushes(self):
        buckets = sim.zipf_buckets(sim.Params().tokens, sim.Params().zipf_s)
        runs = [sim.evaluate(replace(sim.Params(), change_rate=c), buckets) for c in (0.01, 0.5, 10)]
        hits = [r["gateway_hit"] for r in runs]
        flushes = [r["flush_rate"] for r in runs]
        self.assertEqual(hits, sorted(hits, reverse=True))
        self.assertEqual(flushes, sorted(flushes))
        # Two flushes per flush-worthy change at most, coalescing only lowers it.
        for r in runs:
            self.assertLessEqual(r["flush_rate"], 2 * r["flush_worthy_rate"] + 1e-12)

    def test_the_analytic_model_agrees_with_its_monte_carlo(self):
        p = sim.quick_params(sim.Params())
        analytic = sim.evaluate(p)
        simulated = sim.monte_carlo(p, warmup=300, seconds=600, seed=3)
        for key in ("gateway_hit", "tier1_hit"):
            self.assertAlmostEqual(analytic[key], simulated[key], delta=0.04, msg=key)
        for key in ("invocations", "rcu", "flush_rate"):
            self.assertAlmostEqual(analytic[key] / simulated[key], 1, delta=0.2, msg=key)


class Deployed(unittest.TestCase):
    def test_the_defaults_are_the_templates_and_the_recommendation(self):
        p = sim.Params()
        self.assertEqual(p.ttl, template_default("AuthorizerResultTtl"))
        best, _ = sim.recommend_ttl(p, sim.zipf_buckets(p.tokens, p.zipf_s))
        self.assertEqual(best, p.ttl, "the template should default to the recommended TTL")

    def test_the_race_bound_is_the_invalidators_second_flush(self):
        p = sim.Params()
        # invalidation.rs: first flush at fed + F, second `settle` (D + m) later.
        self.assertAlmostEqual(sim.delays(p)["race"], p.feed_interval + p.deadline + p.margin)
        self.assertEqual(sim.delays(p)["fault"], p.ttl)


class Docs(unittest.TestCase):
    def test_the_rewrite_replaces_only_the_marked_section(self):
        with tempfile.TemporaryDirectory() as tmp:
            doc = Path(tmp) / "doc.md"
            doc.write_text(f"# Head\n\n{sim.BEGIN}\nold\n{sim.END}\n\n## Tail\n")
            sim.rewrite_doc(doc, "new")
            self.assertEqual(doc.read_text(), f"# Head\n\n{sim.BEGIN}\nnew\n{sim.END}\n\n## Tail\n")
            bare = Path(tmp) / "bare.md"
            bare.write_text("# Only\n")
            sim.rewrite_doc(bare, "added")
            self.assertEqual(bare.read_text(), f"# Only\n\n{sim.BEGIN}\nadded\n{sim.END}\n")

    def test_performance_md_holds_the_current_models_reference_figures(self):
        section = (ROOT / "docs/performance.md").read_text().split(sim.BEGIN)[1].split(sim.END)[0]
        cost = sim.evaluate(sim.Params())["cost"]
        self.assertIn(f"**{sim.money(cost)}**", section, "rerun `make simulate`")


if __name__ == "__main__":
    unittest.main(verbosity=2)
