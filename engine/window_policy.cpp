#include "engine/window_policy.h"

namespace faultline {

void WindowPolicy::add(double& mean, int64_t& count, double sample) {
  // The mean of the first runs, then an exponential average that follows a machine's changing load.
  ++count;
  const double weight = count < 8 ? 1.0 / static_cast<double>(count) : 1.0 / 8.0;
  mean += (sample - mean) * weight;
}

bool WindowPolicy::prefer_window(size_t s, double share) {
  if (s >= steps_.size()) steps_.resize(s + 1);
  Step& step = steps_[s];
  if (step.windows < kLearnRuns || step.wholes < kLearnRuns) return true;
  if (share * step.per_share < step.whole) return true;
  return ++step.declined % kRetryEvery == 0;
}

void WindowPolicy::ran_whole(size_t s, double seconds) {
  if (s >= steps_.size()) steps_.resize(s + 1);
  add(steps_[s].whole, steps_[s].wholes, seconds);
}

void WindowPolicy::ran_window(size_t s, double share, double seconds) {
  if (s >= steps_.size()) steps_.resize(s + 1);
  if (share > 0) add(steps_[s].per_share, steps_[s].windows, seconds / share);
}

}  // namespace faultline
