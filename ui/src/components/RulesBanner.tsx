// The banner above the flow list while rules are on: which ones, how many
// flows each touched, whether one matches all traffic, with the way to the
// Rules page, to the flows they changed, and to turning them all off. A
// rule left on by mistake is the commonest surprise in a proxy.

import { api } from "../api/client";
import type { Rule } from "../api/types";
import { matchesAll } from "../lib/rules";
import { describeMatch } from "../lib/ruletext";
import { applyFilter, goTo, refreshRules, reportError, ruleCounts, rules } from "../state";

/** At most this many rules are named; the rest are counted. */
const NAMED = 3;

export function RulesBanner() {
  const active = rules.value.filter((r) => r.enabled);
  if (active.length === 0) return null;
  const counts = ruleCounts.value;
  const all = active.filter((r) => matchesAll(r.match));
  const offAll = async () => {
    const next: Rule[] = rules.value.map((r) => ({ ...r, enabled: false }));
    try {
      await api.replaceRules(next);
      await refreshRules();
    } catch (err) {
      reportError("Disable rules", err);
    }
  };
  return (
    <div class="rulesbanner" role="status" data-testid="rules-banner">
      <b data-testid="rules-active">
        {active.length} {active.length === 1 ? "rule" : "rules"} active
      </b>
      {all.length > 0 && <span class="badge b-all">{all.length === 1 ? "one matches all traffic" : `${all.length} match all traffic`}</span>}
      <span class="muted">—</span>
      {active.slice(0, NAMED).map((r, i) => {
        const n = counts[r.id] ?? 0;
        return (
          <span title={describeMatch(r.match)}>
            {r.name || r.id} <span class="muted">({n.toLocaleString()} {n === 1 ? "flow" : "flows"})</span>
            {i < Math.min(NAMED, active.length) - 1 ? "," : ""}
          </span>
        );
      })}
      {active.length > NAMED && <span class="muted">and {active.length - NAMED} more</span>}
      <span class="grow" />
      <button class="link" onClick={() => void applyFilter("rule:")} title="Show only the flows a rule touched (filter rule:)" data-testid="rules-banner-show">
        Show changed flows
      </button>
      <button class="link" onClick={() => goTo("rules")} data-testid="rules-banner-open">
        Manage rules
      </button>
      <button class="link" onClick={() => void offAll()} title="Disable every rule (they are kept)" data-testid="rules-banner-off">
        Turn all off
      </button>
    </div>
  );
}
