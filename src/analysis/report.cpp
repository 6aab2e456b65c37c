// The sweep report: CSV tables for plotting and analysis, and a markdown summary that answers
// "where does MDM overtake AR?" per unique budget, with the fitted R* per objective.
#include "crossover/analysis/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "crossover/analysis/crossing.h"
#include "crossover/analysis/fit.h"
#include "crossover/analysis/results.h"
#include "crossover/analysis/stats.h"
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

// The metric's curve of one run with its standard errors: the Monte-Carlo one of MDM's val loss
// (0 for AR's exact NLL), a binomial one for an accuracy.
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

// The curve of several seeds of one point: their mean where every seed evaluated, with
// se^2 = (sum of the seeds' se^2) / n^2 + (sd across seeds)^2 / n for the val loss (independent
// Monte-Carlo errors), and (mean of the seeds' se^2) + (sd across seeds)^2 / n for an accuracy
// (the seeds answer the same examples). One seed: its own curve.
Curve curve_of(const std::vector<const PointResults*>& runs, const Metric& m) {
  if (runs.size() == 1) return curve_of(*runs.front(), m);
  std::vector<Curve> each;
  for (const auto* r : runs) each.push_back(curve_of(*r, m));
  Curve c;
  for (size_t i = 0; i < each.front().x.size(); ++i) {
    const double x = each.front().x[i];
    std::vector<double> ys;
    double mc = 0;
    for (const auto& e : each) {
      const auto it = std::find(e.x.begin(), e.x.end(), x);
      if (it == e.x.end()) break;
      const size_t j = static_cast<size_t>(it - e.x.begin());
      ys.push_back(e.y[j]);
      mc += e.se[j] * e.se[j];
    }
    if (ys.size() != each.size()) continue;
    const SeedSpread sp = seed_spread(ys);
    const double n = static_cast<double>(ys.size());
    c.x.push_back(x);
    c.y.push_back(sp.mean);
    c.se.push_back(std::sqrt(mc / (m.task.empty() ? n * n : n) + sp.se * sp.se));
  }
  return c;
}

// The validation windows' losses at `tokens`, averaged over the seeds; empty when a seed lacks
// them or the seeds scored different windows.
std::vector<double> window_losses(const std::vector<const PointResults*>& runs, double tokens,
                                  std::vector<int64_t>* windows = nullptr) {
  std::vector<double> sum;
  std::vector<int64_t> first;
  for (const auto* r : runs) {
    const auto e = std::find_if(r->evals.begin(), r->evals.end(),
                                [&](const EvalRecord& x) { return x.tokens == tokens; });
    if (e == r->evals.end() || e->window_loss.empty()) return {};
    if (sum.empty()) sum.assign(e->window_loss.size(), 0.0), first = e->windows;
    if (e->windows != first) return {};
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += e->window_loss[i];
  }
  for (auto& v : sum) v /= static_cast<double>(runs.size());
  if (windows) *windows = first;
  return sum;
}

// The paired-window bootstrap error of the val-loss difference at every eval both sides share.
Curve window_gap_se(const std::vector<const PointResults*>& ar,
                    const std::vector<const PointResults*>& mdm, const Curve& ar_curve) {
  Curve g;
  for (const double x : ar_curve.x) {
    std::vector<int64_t> wa, wm;
    const auto a = window_losses(ar, x, &wa), m = window_losses(mdm, x, &wm);
    if (a.empty() || m.empty() || wa != wm) continue;
    g.x.push_back(x);
    g.y.push_back(paired_bootstrap_se(a, m, 1000));
  }
  return g;
}

// The AR and MDM points of one group (the same point but for the objective and the seed).
struct Pair {
  std::string group, family;
  double unique = 0;                 // tokens per epoch, as the runs report it
  double total = 0;                  // the pair's training-token budget
  const PointResults* ar = nullptr;  // the lowest seed of each objective
  const PointResults* mdm = nullptr;
  std::vector<const PointResults*> ars, mdms;  // every seed, lowest first
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
    if (r.point.objective == "ar") it->ars.push_back(&r);
    if (r.point.objective == "mdm") it->mdms.push_back(&r);
    if (r.unique_tokens > 0 && r.point.objective == "ar") it->unique = r.unique_tokens;
    if (it->unique <= 0) it->unique = r.unique_tokens;
  }
  auto by_seed = [](const PointResults* a, const PointResults* b) {
    return a->point.seed < b->point.seed;
  };
  for (auto& p : pairs) {
    std::stable_sort(p.ars.begin(), p.ars.end(), by_seed);
    std::stable_sort(p.mdms.begin(), p.mdms.end(), by_seed);
    if (!p.ars.empty()) p.ar = p.ars.front();
    if (!p.mdms.empty()) p.mdm = p.mdms.front();
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
        if (std::isfinite(v))
          out << at << csv_field(task) << "," << metric << "," << csv_num(v) << "\n";
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
  } else if (c.crossings.size() == 1) s = crossing_list(c, u) + ".";
  else s = fmt::format("{} crossings: {}.", c.crossings.size(), crossing_list(c, u));
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
  else s += " Crossover beyond the noise: not resolved (" + c.resolved.why_not + ").";
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
  if (totals.size() <= 1)
    return tokens_text(static_cast<double>(m.total_tokens)) + " training tokens each";
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
    FitRow row{
        key.first, key.second, fit_effective_data(across ? fam.finals : fam.trajectory),
        across
            ? fmt::format("final losses of {} runs over {} total budgets", fam.finals.size(),
                          fam.totals.size())
            : "the runs' trajectories (intermediate evals, under fewer than 5 finished runs over 2 "
              "total budgets): a description, not an estimate",
        ""};
    const auto& f = row.fit;
    if (!f.ok) row.note = fmt::format("too few points ({})", f.samples);
    else if (!f.repeated) row.note = "no run repeated its data yet: R* is not identifiable";
    else if (f.r_star_at_bound)
      row.note = fmt::format("R* sits at the edge of the searched range [{:g}, {:g}]: the data do "
                             "not pin it down",
                             kMinRStar, kMaxRStar);
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

// ---- best against best: annealed finals over total budgets ----------------------------------

// One objective in one regime (family and unique budget): its runs by total budget, seeds
// lowest first, and the best annealed final among them.
struct Best {
  std::string objective;
  std::map<int64_t, std::vector<const PointResults*>> by_total;
  bool ok = false;                        // a finished run exists
  int64_t total = 0;                      // chosen on the lowest seed's final val loss
  std::vector<const PointResults*> runs;  // the finished seeds at that total
  double mean = std::nan(""), mc_se = 0, seed_se = 0;
  // The lowest val loss any evaluation of the lowest-seed runs reached (early stopping).
  double within = std::nan(""), within_tokens = 0;
  const PointResults* within_run = nullptr;
};

bool finished_with_val(const PointResults* r) {
  return r->state.status == RunStatus::finished && !r->evals.empty() &&
         std::isfinite(r->evals.back().val_loss);
}

Best choose_best(const std::string& objective,
                 std::map<int64_t, std::vector<const PointResults*>> by_total) {
  Best b;
  b.objective = objective;
  for (auto& [total, runs] : by_total)
    std::stable_sort(runs.begin(), runs.end(), [](const PointResults* x, const PointResults* y) {
      return x->point.seed < y->point.seed;
    });
  b.by_total = std::move(by_total);
  double chosen = std::numeric_limits<double>::infinity();
  for (const auto& [total, runs] : b.by_total) {
    const PointResults* first = runs.front();
    for (const auto& e : first->evals)
      if (std::isfinite(e.val_loss) && !(e.val_loss >= b.within)) {
        b.within = e.val_loss;
        b.within_tokens = e.tokens;
        b.within_run = first;
      }
    if (finished_with_val(first) && first->evals.back().val_loss < chosen) {
      chosen = first->evals.back().val_loss;
      b.total = total;
      b.ok = true;
    }
  }
  if (!b.ok) return b;
  std::vector<double> finals;
  double mc = 0;
  for (const auto* r : b.by_total[b.total])
    if (finished_with_val(r)) {
      b.runs.push_back(r);
      finals.push_back(r->evals.back().val_loss);
      const double se = r->evals.back().val_loss_se;
      mc += std::isfinite(se) ? se * se : 0.0;
    }
  const SeedSpread sp = seed_spread(finals);
  b.mean = sp.mean;
  b.seed_se = sp.se;
  b.mc_se = std::sqrt(mc) / static_cast<double>(finals.size());
  return b;
}

double final_tokens(const std::vector<const PointResults*>& runs) {
  return runs.front()->evals.back().tokens;
}

// A difference of two seed-averaged finals with every error term the data carry.
struct Difference {
  double value = 0, se = 0, window_se = std::nan("");
  int64_t windows = 0;
  std::string terms;
};

Difference difference(const Best& a, const Best& b) {
  Difference d;
  d.value = b.mean - a.mean;
  double var = a.mc_se * a.mc_se + b.mc_se * b.mc_se + a.seed_se * a.seed_se +
               b.seed_se * b.seed_se;
  std::vector<std::string> terms;
  if (a.mc_se > 0 || b.mc_se > 0) terms.push_back("Monte-Carlo");
  std::vector<int64_t> wa, wb;
  const auto la = window_losses(a.runs, final_tokens(a.runs), &wa);
  const auto lb = window_losses(b.runs, final_tokens(b.runs), &wb);
  if (!la.empty() && wa == wb) {
    d.window_se = paired_bootstrap_se(la, lb);
    d.windows = static_cast<int64_t>(la.size());
    var += d.window_se * d.window_se;
    terms.push_back(fmt::format("paired windows ({} windows, bootstrap)", d.windows));
  }
  if (a.runs.size() > 1 || b.runs.size() > 1)
    terms.push_back(fmt::format("seeds ({} {}, {} {})", a.runs.size(), a.objective, b.runs.size(),
                                b.objective));
  d.se = std::sqrt(var);
  for (size_t i = 0; i < terms.size(); ++i) d.terms += (i ? " + " : "") + terms[i];
  if (d.terms.empty()) d.terms = "none (exact, one seed, no per-window losses)";
  return d;
}

// The gain of an objective from its second-largest to its largest finished total (lowest seed):
// > 0 while the longer run still ends lower.
struct Gain {
  bool ok = false;
  int64_t from = 0, to = 0;
  Difference d;  // d.value = final(from) - final(to)
};

Gain last_gain(const Best& b) {
  Gain g;
  std::vector<int64_t> totals;
  for (const auto& [total, runs] : b.by_total)
    if (finished_with_val(runs.front())) totals.push_back(total);
  if (totals.size() < 2) return g;
  g.ok = true;
  g.from = totals[totals.size() - 2];
  g.to = totals.back();
  auto one = [&](int64_t t) {
    Best x = b;
    x.runs = {b.by_total.at(t).front()};
    x.mean = x.runs[0]->evals.back().val_loss;
    const double se = x.runs[0]->evals.back().val_loss_se;
    x.mc_se = std::isfinite(se) ? se : 0;
    x.seed_se = 0;
    return x;
  };
  g.d = difference(one(g.to), one(g.from));
  return g;
}

// Accuracy of a task at the chosen total's finals: the seed mean, its error (binomial per seed
// and across seeds), and the lowest seed's per-example correctness.
struct Accuracy {
  bool ok = false;
  double mean = 0, se = 0;
  std::vector<bool> correct;
};

Accuracy accuracy(const Best& b, const std::string& task) {
  Accuracy a;
  std::vector<double> accs;
  double binom = 0;
  for (const auto* r : b.runs) {
    const auto& e = r->evals.back();
    const auto it = e.tasks.find(task);
    if (it == e.tasks.end() || !std::isfinite(it->second.acc)) return a;
    accs.push_back(it->second.acc);
    const double se = binomial_se(it->second.acc, it->second.examples);
    binom += std::isfinite(se) ? se * se : 0.0;
    if (r == b.runs.front())
      if (const auto p = e.predictions.find(task); p != e.predictions.end())
        a.correct = p->second.correct();
  }
  if (accs.empty()) return a;
  const SeedSpread sp = seed_spread(accs);
  a.ok = true;
  a.mean = sp.mean;
  const double n = static_cast<double>(accs.size());
  // The seeds answer the same examples: averaging them does not shrink the examples' error.
  a.se = std::sqrt(binom / n + sp.se * sp.se);
  return a;
}

std::string total_text(int64_t total, double unique) {
  return unique > 0
             ? fmt::format("{} tokens ({:.0f} epochs)", tokens_text(static_cast<double>(total)),
                           static_cast<double>(total) / unique)
             : tokens_text(static_cast<double>(total)) + " tokens";
}

std::string best_text(const Best& b, double unique) {
  if (!b.ok) return fmt::format("{}: no finished run yet", b.objective);
  std::string s = fmt::format("{}: best annealed final {:.4f} at {}", b.objective, b.mean,
                              total_text(b.total, unique));
  if (b.runs.size() > 1)
    s += fmt::format(", mean of {} seeds (across-seed se {:.4f})", b.runs.size(), b.seed_se);
  if (b.mc_se > 0) s += fmt::format(", Monte-Carlo se {:.4f}", b.mc_se);
  s += "; finals by total (lowest seed):";
  for (const auto& [total, runs] : b.by_total)
    s += finished_with_val(runs.front())
             ? fmt::format(" {} {:.4f}", tokens_text(static_cast<double>(total)),
                           runs.front()->evals.back().val_loss)
             : fmt::format(" {} ({})", tokens_text(static_cast<double>(total)),
                           to_string(runs.front()->state.status));
  if (b.within_run)
    s += fmt::format(". Within-run best {:.4f} ({} at {}, {})", b.within, b.within_run->point.name,
                     tokens_text(b.within_tokens), epoch_text(b.within_tokens, unique));
  return s;
}

struct BestSection {
  std::string md, csv, headline;
};

BestSection best_against_best(const std::vector<PointResults>& results,
                              const std::vector<std::string>& tasks) {
  BestSection out;
  out.csv = "family,unique_tokens,objective,chosen_total,epochs,seeds,final_val_loss,mc_se,seed_se,"
            "within_run_best,within_run_best_point,within_run_best_tokens\n";
  // Regimes in order of appearance: (family, nominal unique budget).
  std::vector<std::pair<std::string, int64_t>> regimes;
  std::map<std::pair<std::string, int64_t>,
           std::map<std::string, std::map<int64_t, std::vector<const PointResults*>>>>
      runs;
  std::map<std::pair<std::string, int64_t>, double> unique;
  for (const auto& r : results) {
    const auto key = std::make_pair(r.point.family, r.point.unique_tokens);
    if (!runs.count(key)) regimes.push_back(key);
    runs[key][r.point.objective][r.point.total_tokens].push_back(&r);
    if (r.unique_tokens > 0) unique[key] = r.unique_tokens;
  }
  std::ostringstream md;
  md << "\n## Best against best\n\nPer family and unique budget, each objective's best is the "
        "lowest final (annealed) val loss over its total budgets, chosen on the lowest seed and "
        "reported as the mean over the seeds at that total; each run anneals its own cosine. "
        "The within-run best (the lowest evaluation anywhere, what early stopping keeps) is shown "
        "beside it. Differences carry every error term the data have, added in quadrature: "
        "Monte-Carlo (MDM's ELBO estimate), the paired-window bootstrap (both scored on the same "
        "validation windows) and across-seed; each line names the terms in it. A task's "
        "accuracies are compared with binomial and across-seed errors and with McNemar's test on "
        "the lowest seeds' per-example predictions.\n";
  for (const auto& key : regimes) {
    const double u = unique.count(key) ? unique[key] : static_cast<double>(key.second);
    auto& objectives = runs[key];
    if (!objectives.count("ar") || !objectives.count("mdm")) continue;
    const Best ar = choose_best("AR", objectives["ar"]);
    const Best mdm = choose_best("MDM", objectives["mdm"]);
    md << fmt::format("\n### {}, {} unique tokens\n\n", key.first, u > 0 ? tokens_text(u) : "?");
    for (const Best* b : {&ar, &mdm}) {
      md << "- " << best_text(*b, u) << ".\n";
      if (b->ok)
        out.csv += fmt::format(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(key.first), csv_num(u),
            b->objective == "AR" ? "ar" : "mdm", b->total,
            csv_num(u > 0 ? b->total / u : std::nan("")), b->runs.size(), csv_num(b->mean),
            csv_num(b->mc_se), csv_num(b->seed_se), csv_num(b->within),
            b->within_run ? csv_field(b->within_run->point.name) : "", csv_num(b->within_tokens));
    }
    if (!ar.ok || !mdm.ok) {
      md << "- No comparison yet: each objective needs a finished run.\n";
      continue;
    }
    const Difference d = difference(ar, mdm);
    const bool mdm_better = (d.value < -2 * d.se), ar_better = (d.value > 2 * d.se);
    const std::string verdict = mdm_better  ? "MDM lower beyond 2 standard errors"
                                : ar_better ? "AR lower beyond 2 standard errors"
                                            : "within 2 standard errors";
    const std::string line =
        fmt::format("val loss, MDM best - AR best = {:+.4f} ± {:.4f} ({}; error terms: {})",
                    d.value, d.se, verdict, d.terms);
    md << "- **" << line << "**.\n";
    out.headline += fmt::format("{} / {}: {}\n", key.first, u > 0 ? tokens_text(u) : "?", line);
    const Gain gain = last_gain(mdm);
    if (gain.ok)
      md << fmt::format("- MDM from {} to {}: val loss {:+.4f} ± {:.4f} ({}; error terms: {}).\n",
                        total_text(gain.from, u), total_text(gain.to, u), -gain.d.value, gain.d.se,
                        gain.d.value > 2 * gain.d.se    ? "still improving beyond 2 standard errors"
                        : gain.d.value < -2 * gain.d.se ? "worse beyond 2 standard errors"
                                                        : "no change beyond 2 standard errors",
                        gain.d.terms);
    bool cloze_win = false;
    for (const auto& t : tasks) {
      const Accuracy a = accuracy(ar, t), m = accuracy(mdm, t);
      if (!a.ok || !m.ok) continue;
      const double diff = m.mean - a.mean, se = std::hypot(a.se, m.se);
      cloze_win = cloze_win || diff > 2 * se;
      std::string mc;
      if (!a.correct.empty() && a.correct.size() == m.correct.size()) {
        const McNemar n = mcnemar(a.correct, m.correct);
        mc = fmt::format(
            "; McNemar on the lowest seeds: {} examples only AR gets right, {} only MDM, "
            "exact p = {:.3g}, continuity-corrected chi2 = {:.2f} (p = {:.3g})",
            n.b, n.c, n.exact_p, n.chi2, n.chi2_p);
      }
      md << fmt::format(
          "- {} acc at these totals: AR {:.3f} ± {:.3f}, MDM {:.3f} ± {:.3f}, MDM - AR "
          "{:+.3f} ± {:.3f} (binomial{}){}.\n",
          t, a.mean, a.se, m.mean, m.se, diff, se,
          ar.runs.size() > 1 || mdm.runs.size() > 1 ? " + seeds" : "", mc);
    }
    // The decision rule, fixed before the runs: MDM's ELBO is an upper bound on its NLL, so a
    // lower MDM val loss beyond the noise supports the claim however loose the bound is.
    std::string decision;
    if (mdm_better || cloze_win)
      decision = "supports: " +
                 std::string(mdm_better
                                 ? "MDM's val loss (an upper bound) is below AR's beyond 2 SE"
                                 : "MDM's accuracy is above AR's beyond 2 SE");
    else if (ar_better && gain.ok && !(gain.d.value > 2 * gain.d.se))
      decision =
          "falsifies at this scale: MDM is worse beyond 2 SE, no longer improving between its "
          "two largest budgets, and wins no task";
    else if (ar_better && gain.ok && gain.d.value > 0) {
      // Tokens at which the gap would close at MDM's last log-linear rate.
      const double rate = gain.d.value / std::log(static_cast<double>(gain.to) / gain.from);
      decision =
          fmt::format("inconclusive: MDM is worse beyond 2 SE but still improving; at its last "
                      "rate ({:.4f} per e-fold of tokens) it would reach AR's best at about {} "
                      "tokens",
                      rate, tokens_text(gain.to * std::exp(d.value / rate)));
    } else
      decision =
          ar_better
              ? "inconclusive: MDM is worse beyond 2 SE, but a single total cannot say whether it is still improving"
              : "inconclusive: the bests are within 2 SE";
    md << "- Decision: " << decision << ".\n";
    out.headline += "  decision: " + decision + "\n";
  }
  out.md = md.str();
  return out;
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
    for (const auto& metric : metrics) {
      const Curve ar = curve_of(p.ars, metric), mdm = curve_of(p.mdms, metric);
      const Curve gap = metric.task.empty() ? window_gap_se(p.ars, p.mdms, ar) : Curve{};
      compared.push_back({&p, metric, compare_curves(ar, mdm, metric.better, gap)});
    }
  }
  const auto fits = fit_families(results);

  const BestSection best = best_against_best(results, tasks);

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
        "leads by more to the end (binomial errors for accuracies; for the val loss MDM's "
        "Monte-Carlo error and the paired-window bootstrap of the difference where the runs "
        "wrote per-window losses; across seeds where a group has several), or \"not "
        "resolved\".\n\n| group | unique tokens | epochs |";
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
    md << run_text("AR", p.ar) << "; " << run_text("MDM", p.mdm) << ".";
    if (p.ars.size() > 1 || p.mdms.size() > 1)
      md << fmt::format(" Curves are means over seeds (AR {}, MDM {}), their errors including the "
                        "spread across seeds.",
                        p.ars.size(), p.mdms.size());
    md << "\n\n";
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

  md << best.md;
  headline << best.headline;

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
  write("best.csv", best.csv);
  write("summary.md", md.str());
  files.headline = headline.str();
  return files;
}

}  // namespace crossover
