// The sweep report: CSV tables for plotting and analysis, and a markdown summary that answers
// "where does MDM overtake AR?" per unique budget, with the fitted R* per objective.
#include "crossover/sweep/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "crossover/sweep/crossing.h"
#include "crossover/sweep/fit.h"
#include "crossover/sweep/results.h"
#include "crossover/util/fs.h"
#include "crossover/util/progress.h"
#include "crossover/version.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

// ---- formatting -----------------------------------------------------------------------------

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_num(double v) { return std::isfinite(v) ? fmt::format("{:.10g}", v) : ""; }

std::string tokens_text(double t) { return human_count(t); }

std::string epoch_text(double tokens, double unique) {
  return unique > 0 ? fmt::format("epoch {:.1f}", tokens / unique) : "epoch ?";
}

std::string value_text(double v, bool accuracy) {
  return accuracy ? fmt::format("{:.3f}", v) : fmt::format("{:.4f}", v);
}

// ---- what is compared -----------------------------------------------------------------------

// One metric compared between AR and MDM: the val loss, or one task's accuracy.
struct Metric {
  std::string name;  // "val_loss" or "acc"
  std::string task;  // "" for val_loss
  Better better;
  std::string title() const { return task.empty() ? "val loss" : task + " acc"; }
};

// The metric's curve with its standard errors: the Monte-Carlo one of MDM's val loss (0 for
// AR's exact NLL), a binomial one for an accuracy.
Curve curve_of(const PointResults& r, const Metric& m) {
  Curve c;
  for (const auto& e : r.evals) {
    double y = e.val_loss, se = e.val_loss_se;
    if (!m.task.empty()) {
      const auto it = e.tasks.find(m.task);
      y = it == e.tasks.end() ? std::nan("") : it->second.acc;
      se = it == e.tasks.end() ? std::nan("") : binomial_se(y, it->second.examples);
    }
    if (!std::isfinite(y) || (!c.x.empty() && e.tokens <= c.x.back())) continue;
    c.x.push_back(e.tokens);
    c.y.push_back(y);
    c.se.push_back(se);  // NaN (older metrics without `examples`): no crossover is called
  }
  return c;
}

// The AR and MDM points of one group (the same point but for the objective).
struct Pair {
  std::string group, family;
  double unique = 0;  // tokens per epoch, as the runs report it
  double total = 0;   // the pair's training-token budget
  const PointResults* ar = nullptr;
  const PointResults* mdm = nullptr;
};

struct Compared {
  const Pair* pair;
  Metric metric;
  CurveComparison c;
};

std::vector<Pair> make_pairs(const std::vector<PointResults>& results) {
  std::vector<Pair> pairs;
  for (const auto& r : results) {
    auto it = std::find_if(pairs.begin(), pairs.end(),
                           [&](const Pair& p) { return p.group == r.point.group; });
    if (it == pairs.end()) {
      pairs.push_back({r.point.group, r.point.family, r.unique_tokens,
                       static_cast<double>(r.point.total_tokens)});
      it = pairs.end() - 1;
    }
    if (r.point.objective == "ar" && !it->ar) it->ar = &r;
    if (r.point.objective == "mdm" && !it->mdm) it->mdm = &r;
    if (r.unique_tokens > 0 && r.point.objective == "ar") it->unique = r.unique_tokens;
    if (it->unique <= 0) it->unique = r.unique_tokens;
  }
  // Families in order of appearance, unique budgets ascending within each.
  std::vector<std::string> families;
  for (const auto& p : pairs)
    if (std::find(families.begin(), families.end(), p.family) == families.end())
      families.push_back(p.family);
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Pair& a, const Pair& b) {
    const auto fa = std::find(families.begin(), families.end(), a.family);
    const auto fb = std::find(families.begin(), families.end(), b.family);
    return fa != fb ? fa < fb : a.unique != b.unique ? a.unique < b.unique : a.total < b.total;
  });
  return pairs;
}

std::vector<std::string> task_names(const std::vector<PointResults>& results) {
  std::set<std::string> names;
  for (const auto& r : results)
    for (const auto& e : r.evals)
      for (const auto& [name, scores] : e.tasks) names.insert(name);
  return {names.begin(), names.end()};
}

// ---- CSV files ------------------------------------------------------------------------------

std::string summary_csv(const Manifest& m, const std::vector<PointResults>& results,
                        const std::vector<std::string>& tasks) {
  std::ostringstream out;
  out << "point,group,family,objective";
  for (const auto& a : m.axes) out << "," << csv_field("axis:" + a);
  out << ",unique_tokens,total_tokens,epochs,planned_flops,status,step,total_steps,tokens,epoch,"
         "evals,final_val_loss,final_val_loss_se,final_step,final_tokens,final_epoch,"
         "best_val_loss,best_step,best_tokens,best_epoch";
  for (const auto& t : tasks)
    for (const char* f : {"acc", "acc_norm", "delta_nll", "nll_right", "nll_wrong"})
      out << "," << csv_field(t + "." + f);
  out << "\n";
  for (const auto& r : results) {
    const auto& p = r.point;
    out << csv_field(p.name) << "," << csv_field(p.group) << "," << csv_field(p.family) << ","
        << p.objective;
    for (const auto& a : m.axes) {
      std::string label;
      for (const auto& [axis, l] : p.labels)
        if (axis == a) label = l;
      out << "," << csv_field(label);
    }
    const EvalRecord* last = nullptr;
    const EvalRecord* best = nullptr;
    for (const auto& e : r.evals) {
      if (!std::isfinite(e.val_loss)) continue;
      last = &e;
      if (!best || e.val_loss < best->val_loss) best = &e;
    }
    auto rec = [&](const EvalRecord* e, bool with_se) {
      if (!e) return std::string(with_se ? ",,,," : ",,,");
      return csv_num(e->val_loss) + (with_se ? "," + csv_num(e->val_loss_se) : "") + "," +
             std::to_string(e->step) + "," + csv_num(e->tokens) + "," + csv_num(e->epoch);
    };
    out << "," << csv_num(r.unique_tokens) << "," << p.total_tokens << "," << csv_num(p.epochs)
        << "," << csv_num(p.flops) << "," << csv_field(to_string(r.state.status)) << ","
        << r.state.step << "," << (r.state.total_steps > 0 ? r.state.total_steps : p.steps) << ","
        << r.state.tokens << "," << csv_num(r.state.epoch) << "," << r.evals.size() << ","
        << rec(last, true) << "," << rec(best, false);
    // Final task scores: the last eval that has the task.
    for (const auto& t : tasks) {
      const TaskScores* s = nullptr;
      for (const auto& e : r.evals)
        if (auto it = e.tasks.find(t); it != e.tasks.end()) s = &it->second;
      if (!s) {
        out << ",,,,,";
        continue;
      }
      out << "," << csv_num(s->acc) << "," << csv_num(s->acc_norm) << "," << csv_num(s->delta_nll)
          << "," << csv_num(s->nll_right) << "," << csv_num(s->nll_wrong);
    }
    out << "\n";
  }
  return out.str();
}

std::string curves_csv(const std::vector<PointResults>& results) {
  std::ostringstream out;
  out << "point,group,family,objective,unique_tokens,step,tokens,epoch,flops,task,metric,value\n";
  for (const auto& r : results) {
    const auto& p = r.point;
    const std::string head = csv_field(p.name) + "," + csv_field(p.group) + "," +
                             csv_field(p.family) + "," + p.objective + "," +
                             csv_num(r.unique_tokens) + ",";
    for (const auto& e : r.evals) {
      const std::string at = head + std::to_string(e.step) + "," + csv_num(e.tokens) + "," +
                             csv_num(e.epoch) + "," + csv_num(e.flops) + ",";
      auto row = [&](const std::string& task, const char* metric, double v) {
        if (std::isfinite(v)) out << at << csv_field(task) << "," << metric << "," << csv_num(v) << "\n";
      };
      row("", "val_loss", e.val_loss);
      row("", "val_loss_se", e.val_loss_se);
      row("", "val_ppl", e.val_ppl);
      for (const auto& [name, s] : e.tasks) {
        row(name, "acc", s.acc);
        row(name, "acc_se", binomial_se(s.acc, s.examples));
        row(name, "acc_norm", s.acc_norm);
        row(name, "delta_nll", s.delta_nll);
        row(name, "nll_right", s.nll_right);
        row(name, "nll_wrong", s.nll_wrong);
      }
    }
  }
  return out.str();
}

std::string crossovers_csv(const std::vector<Compared>& compared) {
  std::ostringstream out;
  out << "group,family,unique_tokens,task,metric,kind,tokens,epoch\n";
  for (const auto& c : compared) {
    const std::string head = csv_field(c.pair->group) + "," + csv_field(c.pair->family) + "," +
                             csv_num(c.pair->unique) + "," + csv_field(c.metric.task) + "," +
                             c.metric.name + ",";
    auto row = [&](const char* kind, double x) {
      out << head << kind << "," << csv_num(x) << ","
          << csv_num(c.pair->unique > 0 ? x / c.pair->unique : std::nan("")) << "\n";
    };
    for (const auto& x : c.c.crossings) row(x.mdm_overtakes ? "mdm_overtakes" : "ar_retakes", x.x);
    if (c.c.trend && c.c.trend->crosses) row("trend", c.c.trend->x);
    // The crossover beyond the noise (crossing.h): the interval it lies in.
    if (c.c.resolved.resolved) {
      row("resolved_from", c.c.resolved.x_lo);
      row("resolved_to", c.c.resolved.x_hi);
    }
  }
  return out.str();
}

// ---- markdown -------------------------------------------------------------------------------

std::string run_text(const char* objective, const PointResults* r) {
  if (!r) return std::string(objective) + ": no point";
  std::string s = fmt::format("{} `{}` ({}", objective, r->point.name, to_string(r->state.status));
  if (r->state.status != RunStatus::finished && r->state.status != RunStatus::not_started)
    s += fmt::format(", step {}/{}", r->state.step,
                     r->state.total_steps > 0 ? r->state.total_steps : r->point.steps);
  return s + fmt::format(", {} evals)", r->evals.size());
}

std::string crossing_list(const CurveComparison& c, double unique) {
  std::string s;
  for (size_t i = 0; i < c.crossings.size(); ++i) {
    const auto& x = c.crossings[i];
    s += (i ? ", " : "") + std::string(x.mdm_overtakes ? "MDM overtakes" : "AR retakes the lead") +
         fmt::format(" at {} tokens ({})", tokens_text(x.x), epoch_text(x.x, unique));
  }
  return s;
}

// One metric of one pair as a sentence or three.
std::string describe(const Compared& k, const PointResults& mdm) {
  const auto& c = k.c;
  const double u = k.pair->unique;
  const bool acc = !k.metric.task.empty();
  if (!c.overlap) return "no evaluations of both runs on a shared range of tokens yet.";
  std::string s;
  auto who = [](double advantage) {
    return advantage > 0 ? "MDM ahead" : advantage < 0 ? "AR ahead" : "level";
  };
  if (c.crossings.empty()) {
    // Without a crossing the leader never changed, but the curves may start level (both at
    // the loss of an untrained model) before one pulls ahead.
    const std::string course = c.mdm_advantage_begin == c.mdm_advantage ||
                                       (c.mdm_advantage_begin != 0 && c.mdm_advantage != 0)
                                   ? std::string(who(c.mdm_advantage_begin)) + " throughout"
                                   : std::string(who(c.mdm_advantage_begin)) + " at first, " +
                                         who(c.mdm_advantage) + " at the end";
    s = fmt::format("no crossing between {} and {} tokens: {}.", tokens_text(c.x_begin),
                    tokens_text(c.x_end), course);
  }
  else if (c.crossings.size() == 1)
    s = crossing_list(c, u) + ".";
  else
    s = fmt::format("{} crossings: {}.", c.crossings.size(), crossing_list(c, u));
  s += fmt::format(" At {} tokens ({}): {}, MDM {} vs AR {}", tokens_text(c.x_end),
                   epoch_text(c.x_end, u), who(c.mdm_advantage), value_text(c.mdm_end, acc),
                   value_text(c.ar_end, acc));
  if (!acc && !mdm.evals.empty()) {
    const double se = mdm.evals.back().val_loss_se;
    if (std::isfinite(se) && se > 0 && std::fabs(c.mdm_advantage) < 2 * se)
      s += fmt::format(" (within 2 standard errors of MDM's estimate, {:.4f})", se);
  }
  s += ".";
  if (c.resolved.resolved)
    s += fmt::format(" Beyond the noise (MDM's lead over 2 combined standard errors to the end): "
                     "the crossover lies between {} ({}) and {} tokens ({}).",
                     tokens_text(c.resolved.x_lo), epoch_text(c.resolved.x_lo, u),
                     tokens_text(c.resolved.x_hi), epoch_text(c.resolved.x_hi, u));
  else
    s += " Crossover beyond the noise: not resolved (" + c.resolved.why_not + ").";
  if (c.trend) {
    const auto& t = *c.trend;
    if (t.crosses)
      s += fmt::format(" Extrapolating the last {} evals of each run linearly in log-tokens, MDM "
                       "would catch up at {} tokens ({}), {:.2f}x the tokens so far.",
                       t.points, tokens_text(t.x), epoch_text(t.x, u), t.x / c.x_end);
    else
      s += fmt::format(" The last {} evals of each run, linear in log-tokens, {} (per e-fold of "
                       "tokens AR changes by {:+.4f}, MDM by {:+.4f}): the gap does not close on "
                       "these trends.",
                       t.points, t.parallel ? "run parallel" : "diverge", t.ar_slope, t.mdm_slope);
  }
  return s;
}

// The overview cell: the first MDM lead and who leads at the end.
std::string overview_cell(const CurveComparison& c, double unique) {
  if (!c.overlap) return "no data";
  std::string first = "never";
  if (c.mdm_first_ahead)
    first = *c.mdm_first_ahead == c.x_begin && c.mdm_advantage_begin > 0
                ? "from the start"
                : fmt::format("{} ({})", tokens_text(*c.mdm_first_ahead),
                              epoch_text(*c.mdm_first_ahead, unique));
  const char* end = c.mdm_advantage > 0 ? "MDM" : c.mdm_advantage < 0 ? "AR" : "level";
  const std::string beyond_noise =
      !c.resolved.resolved ? std::string("not resolved")
      : unique > 0 ? fmt::format("crossover in epochs {:.1f}-{:.1f}", c.resolved.x_lo / unique,
                                 c.resolved.x_hi / unique)
                   : fmt::format("crossover in {}-{} tokens", tokens_text(c.resolved.x_lo),
                                 tokens_text(c.resolved.x_hi));
  return first + " / " + end + " / " + beyond_noise;
}

// "96.0B training tokens each", or the budgets of a data.total_tokens axis.
std::string totals_text(const Manifest& m) {
  std::set<int64_t> totals;
  for (const auto& p : m.points) totals.insert(p.total_tokens);
  if (totals.size() <= 1) return tokens_text(static_cast<double>(m.total_tokens)) + " training tokens each";
  std::string s;
  for (int64_t t : totals) s += (s.empty() ? "" : ", ") + tokens_text(static_cast<double>(t));
  return "training budgets of " + s + " tokens";
}

struct FitRow {
  std::string objective, family;
  EffectiveDataFit fit;
  std::string basis;  // what the fit stands on (final losses across budgets, or one trajectory)
  std::string note;
};

// Muennighoff et al. fit the law to the final losses of separate runs, each annealed to the end
// of its own budget. With a data.total_tokens axis a family has such runs across total budgets;
// from 5 finished runs over 2 or more totals the fit uses their final val losses. Otherwise it
// falls back to every eval of the runs (the best so far, what early stopping keeps): points
// taken before the learning rate has annealed, which describe the runs' trajectories rather
// than estimate R*, and the report says so.
std::vector<FitRow> fit_families(const std::vector<PointResults>& results) {
  struct Family {
    std::vector<FitSample> trajectory, finals;
    std::set<int64_t> totals;
  };
  std::map<std::pair<std::string, std::string>, Family> families;
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& r : results) {
    const auto key = std::make_pair(r.point.objective, r.point.family);
    if (!families.count(key)) order.push_back(key);
    auto& f = families[key];
    double best = std::numeric_limits<double>::infinity();
    for (const auto& e : r.evals)
      if (std::isfinite(e.val_loss)) {
        best = std::min(best, e.val_loss);
        f.trajectory.push_back({e.tokens, r.unique_tokens, best});
      }
    if (r.state.status == RunStatus::finished && !r.evals.empty() &&
        std::isfinite(r.evals.back().val_loss)) {
      f.finals.push_back({r.evals.back().tokens, r.unique_tokens, r.evals.back().val_loss});
      f.totals.insert(r.point.total_tokens);
    }
  }
  std::vector<FitRow> rows;
  for (const auto& key : order) {
    const Family& fam = families[key];
    const bool across = fam.finals.size() >= 5 && fam.totals.size() >= 2;
    FitRow row{key.first, key.second,
               fit_effective_data(across ? fam.finals : fam.trajectory),
               across ? fmt::format("final losses of {} runs over {} total budgets",
                                    fam.finals.size(), fam.totals.size())
                      : "the runs' trajectories (intermediate evals, under fewer than 5 finished runs over 2 "
                        "total budgets): a description, not an estimate",
               ""};
    const auto& f = row.fit;
    if (!f.ok) row.note = fmt::format("too few points ({})", f.samples);
    else if (!f.repeated) row.note = "no run repeated its data yet: R* is not identifiable";
    else if (f.r_star_at_bound)
      row.note = fmt::format("R* sits at the edge of the searched range [{:g}, {:g}]: the data do "
                             "not pin it down", kMinRStar, kMaxRStar);
    if (f.ok && f.r2 < 0.9)
      row.note += std::string(row.note.empty() ? "" : "; ") +
                  fmt::format("poor fit (R^2 = {:.2f}): read R* as indicative only", f.r2);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string fit_text(const FitRow& r) {
  if (!r.fit.ok) return fmt::format("R* ({}, {}): {}", r.objective, r.family, r.note);
  return fmt::format("R* ({}, {}) = {:.3g} (E {:.3f}, A {:.4g}, alpha {:.3f}; R^2 {:.3f} over {} "
                     "points; fitted on {}){}",
                     r.objective, r.family, r.fit.r_star, r.fit.E, r.fit.A, r.fit.alpha, r.fit.r2,
                     r.fit.samples, r.basis, r.note.empty() ? "" : " - " + r.note);
}

}  // namespace

ReportFiles write_report(const std::string& sweep_dir) {
  const Manifest m = read_manifest(sweep_dir);
  const auto results = load_results(m);
  const auto tasks = task_names(results);
  const auto pairs = make_pairs(results);

  std::vector<Metric> metrics = {{"val_loss", "", Better::lower}};
  for (const auto& t : tasks) metrics.push_back({"acc", t, Better::higher});
  std::vector<Compared> compared;
  for (const auto& p : pairs) {
    if (!p.ar || !p.mdm) continue;
    for (const auto& metric : metrics)
      compared.push_back({&p, metric, compare_curves(curve_of(*p.ar, metric),
                                                     curve_of(*p.mdm, metric), metric.better)});
  }
  const auto fits = fit_families(results);

  std::map<RunStatus, int> count;
  for (const auto& r : results) ++count[r.state.status];
  std::ostringstream md;
  md << "# Sweep report\n\n";
  md << fmt::format("Sweep `{}`{}: {} points ({} finished, {} partial, {} interrupted, {} failed, "
                    "{} not started), {}. crossover {}.\n\n",
                    m.source, m.description.empty() ? "" : " (" + m.description + ")",
                    results.size(), count[RunStatus::finished], count[RunStatus::partial],
                    count[RunStatus::interrupted], count[RunStatus::failed],
                    count[RunStatus::not_started], totals_text(m), kVersion);
  md << "A crossing is where the MDM curve crosses the AR curve on the shared tokens axis "
        "(linear interpolation between evaluations); epochs are tokens / unique tokens. Val "
        "loss: lower is better (MDM's is a Monte-Carlo bound on the NLL, AR's the exact NLL); "
        "accuracy: higher is better.\n\n";

  md << "## Overview\n\nEach cell: where MDM first leads (tokens, epoch) / who leads at the "
        "end of the shared range / the crossover beyond the noise: the interval between the last "
        "eval where AR led by more than 2 combined standard errors and the first from which MDM "
        "leads by more to the end (binomial errors for accuracies, the Monte-Carlo error of "
        "MDM's val loss), or \"not resolved\".\n\n| group | unique tokens | epochs |";
  for (const auto& metric : metrics) md << " " << metric.title() << " |";
  md << "\n|---|---|---|";
  for (size_t i = 0; i < metrics.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& p : pairs) {
    md << "| " << p.group << " | " << (p.unique > 0 ? tokens_text(p.unique) : "?") << " | "
       << (p.unique > 0 ? fmt::format("{:.1f}", p.total / p.unique) : "?") << " |";
    for (const auto& metric : metrics) {
      auto it = std::find_if(compared.begin(), compared.end(), [&](const Compared& c) {
        return c.pair == &p && c.metric.name == metric.name && c.metric.task == metric.task;
      });
      md << " " << (it == compared.end() ? "no AR/MDM pair" : overview_cell(it->c, p.unique))
         << " |";
    }
    md << "\n";
  }

  std::ostringstream headline;
  md << "\n## Per unique budget\n";
  for (const auto& p : pairs) {
    md << fmt::format("\n### {}: {} unique tokens, {} epochs\n\n", p.group,
                      p.unique > 0 ? tokens_text(p.unique) : "?",
                      p.unique > 0 ? fmt::format("{:.1f}", p.total / p.unique) : "?");
    md << run_text("AR", p.ar) << "; " << run_text("MDM", p.mdm) << ".\n\n";
    if (!p.ar || !p.mdm) {
      md << "No comparison: the group needs one `ar` and one `mdm` point.\n";
      continue;
    }
    for (const auto& c : compared) {
      if (c.pair != &p) continue;
      const std::string text = describe(c, *p.mdm);
      md << "- **" << c.metric.title() << "**: " << text << "\n";
      if (c.metric.task.empty()) headline << p.group << ": val loss: " << text << "\n";
    }
  }

  md << "\n## Effective data: Muennighoff's R* per objective\n\n"
        "D' = D for D <= U, else U + U R* (1 - exp(-(D/U - 1)/R*)); loss = E + A / D'^alpha. R* "
        "is the number of repetitions after which more epochs are worth 1/e of fresh data "
        "(reported: about 15 for AR, about 500 for diffusion). As Muennighoff et al. do, the fit "
        "stands on the final (annealed) val losses of finished runs when a family has at least 5 "
        "of them over 2 or more total budgets (a data.total_tokens axis); otherwise on every "
        "evaluation of its runs (the best so far), which describes one budget's trajectory "
        "under a schedule that has not annealed yet, not an estimate of R*.\n\n"
        "| objective | family | R* | E | A | alpha | R^2 | points | fitted on | note |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& f : fits) {
    if (!f.fit.ok) {
      md << fmt::format("| {} | {} | | | | | | {} | {} | {} |\n", f.objective, f.family,
                        f.fit.samples, f.basis, f.note);
    } else {
      md << fmt::format("| {} | {} | {:.3g} | {:.4f} | {:.4g} | {:.4f} | {:.3f} | {} | {} | {} |\n",
                        f.objective, f.family, f.fit.r_star, f.fit.E, f.fit.A, f.fit.alpha,
                        f.fit.r2, f.fit.samples, f.basis, f.note);
    }
    headline << fit_text(f) << "\n";
  }

  const fs::path out = fs::path(m.dir) / "report";
  fs::create_directories(out);
  ReportFiles files;
  auto write = [&](const char* name, const std::string& text) {
    const std::string path = (out / name).string();
    atomic_write_file(path, text);
    files.paths.push_back(path);
  };
  write("summary.csv", summary_csv(m, results, tasks));
  write("curves.csv", curves_csv(results));
  write("crossovers.csv", crossovers_csv(compared));
  write("summary.md", md.str());
  files.headline = headline.str();
  return files;
}

}  // namespace crossover
