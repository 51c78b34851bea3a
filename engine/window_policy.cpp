#include "engine/window_policy.h"

namespace faultline {

void WindowPolicy::add(double& mean, int64_t& count, double sample) {
  // The mean of the first runs, then an exponential average that follows a machine's changing load.
  ++count;
  const double weight = count < 8 ? 1.0 / static_cast<double>(count) : 1.0 / 8.0;
  mean += (sample - mean) * weight;
}

WindowPolicy::Step& WindowPolicy::step(size_t s) {
  if (s >= steps_.size()) steps_.resize(s + 1);
  return steps_[s];
}

double WindowPolicy::Partial::expected(double share) const {
  if (n <= 0 || x <= 0) return 0;
  // Least squares t = fixed + slope x; when the shares timed so far hardly vary (or the fit turns a coefficient
  // negative), the proportional fit t = slope x through the origin.
  const double spread = n * xx - x * x;
  if (spread > 1e-9 * n * xx) {
    const double slope = (n * xt - x * t) / spread;
    const double fixed = (t - slope * x) / n;
    if (slope >= 0 && fixed >= 0) return fixed + slope * share;
  }
  return xx > 0 ? xt / xx * share : 0;
}

bool WindowPolicy::prefer_window(size_t s, double share, PartialRun kind) {
  Step& step = this->step(s);
  Partial& partial = step.partial[static_cast<int>(kind)];
  if (partial.runs < kLearnRuns) return true;
  if (step.wholes < kLearnRuns) return false;
  if (partial.expected(share) < step.whole) return true;
  return ++partial.declined % kRetryEvery == 0;
}

double WindowPolicy::expected_partial(size_t s, double share, PartialRun kind) {
  return step(s).partial[static_cast<int>(kind)].expected(share);
}

void WindowPolicy::ran_whole(size_t s, double seconds) {
  Step& step = this->step(s);
  add(step.whole, step.wholes, seconds);
}

void WindowPolicy::ran_window(size_t s, double share, double seconds, PartialRun kind) {
  Partial& p = step(s).partial[static_cast<int>(kind)];
  if (share <= 0) return;
  const double keep = 1.0 - kForget;
  p.n = p.n * keep + 1, p.x = p.x * keep + share, p.xx = p.xx * keep + share * share;
  p.t = p.t * keep + seconds, p.xt = p.xt * keep + share * seconds;
  ++p.runs;
}

}  // namespace faultline
