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

bool WindowPolicy::prefer_window(size_t s, double share, PartialRun kind) {
  Step& step = this->step(s);
  Partial& partial = step.partial[static_cast<int>(kind)];
  if (partial.runs < kLearnRuns) return true;
  if (step.wholes < kLearnRuns) return false;
  if (share * partial.per_share < step.whole) return true;
  return ++partial.declined % kRetryEvery == 0;
}

void WindowPolicy::ran_whole(size_t s, double seconds) {
  Step& step = this->step(s);
  add(step.whole, step.wholes, seconds);
}

void WindowPolicy::ran_window(size_t s, double share, double seconds, PartialRun kind) {
  Partial& partial = step(s).partial[static_cast<int>(kind)];
  if (share > 0) add(partial.per_share, partial.runs, seconds / share);
}

}  // namespace faultline
