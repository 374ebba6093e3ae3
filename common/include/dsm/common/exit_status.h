// Exit statuses shared by the runtime and the launcher.
#pragma once

namespace dsm {

// A node ends with this status when the job failed elsewhere (another node
// left, the daemon went away) or when the program misused the API. The
// launcher treats such an exit as a consequence and looks for the cause.
inline constexpr int kExitJobFailed = 3;

}  // namespace dsm
