// The start gate: twine-runc holds `runc start` of a labelled container until
// the Twine daemon has applied it (or, in open mode, has failed to).
#pragma once

#include <string>

#include "common.h"

namespace twine_rt {

struct State {
  std::string id;
  long pid = 0;
};

// The id and pid of a container's state JSON (`runc state <id>`).
bool ParseState(const std::string& text, State* st, std::string* why);

enum class Labels { kNoTwine, kTwine, kUnknown };

// Whether Docker's record of container id (<docker_root>/containers/<id>/config.v2.json)
// has twine.* labels; kUnknown on any doubt, and the daemon decides then.
Labels TwineLabels(const Conf& conf, const std::string& id);

// Asks the daemon to apply container id, whose init process pid waits for
// `runc start`, retrying while the daemon is not there until conf.timeout_ms.
// True: the start may go on (applied, nothing to apply, or open mode, where a
// failure is a warning). False: refused; the reason went to stderr.
bool MayStart(const Conf& conf, const std::string& id, long pid);

}  // namespace twine_rt
