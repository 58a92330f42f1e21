# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Source it; do not run it.
#
#   say MESSAGE...          print a "==> MESSAGE" line
#   die MESSAGE...          print an error and exit 1
#   at_exit COMMAND...      run COMMAND when the script exits (last registered runs first)
#   need_apt PKG...         install the Debian packages that are missing (apt-get update once per run);
#                           installing starts no services (a policy-rc.d refuses them meanwhile)
#   need_qemu               QEMU (system emulator and qemu-img, same version) and the tools that build
#                           the local provider's guest image (debootstrap, e2fsprogs; the boot loader,
#                           EXTLINUX, is installed inside the image, not on the host)
#   need_cargo              make sure cargo is there (enough to build and run)
#   need_rust               need_cargo, plus the wasm32 target, clippy and rustfmt (each added only
#                           if missing)
#   start_test_postgres     start a throwaway PostgreSQL cluster on 127.0.0.1 and export
#                           WINTERMUTE_TEST_POSTGRES_URL; it is stopped and deleted at exit
#   need_moto               make sure the EC2 emulator (moto) is installed in a venv under
#                           ~/.cache/wintermute and export WINTERMUTE_MOTO_SERVER (its moto_server)
#   need_openstack          make sure Keystone, gunicorn and the official OpenStack clients are installed
#                           in their own venv under ~/.cache/wintermute (the OpenStack provider's
#                           tests) and export WINTERMUTE_OPENSTACK_VENV
#   need_wasm_bindgen       the wasm-bindgen CLI at exactly the version Cargo.lock names for the
#                           wasm-bindgen crate (installed once into ~/.cache/wintermute/tools);
#                           exports WM_WASM_BINDGEN (its path)
#   need_frontend_js        node and npm (Debian's nodejs and npm), then `npm ci` in frontend/ when
#                           its node_modules does not match package-lock.json (xterm.js, which the
#                           wasm build embeds)
#   need_chromium           Debian's chromium and chromium-driver (the browser tests); exports
#                           WINTERMUTE_CHROMIUM and WINTERMUTE_CHROMEDRIVER
#   need_desktop            what the desktop app (src-tauri) builds and is tested with: the WebKitGTK,
#                           GTK, librsvg and appindicator headers and pkg-config, WebKitWebDriver, Xvfb,
#                           rpmbuild and dpkg-deb (its packages), gnome-keyring and dbus-run-session
#                           (a Secret Service for the OS keyring under test), and tauri-driver at
#                           WM_TAURI_DRIVER_VERSION (cargo install, once, into ~/.cache/wintermute/tools);
#                           exports WINTERMUTE_TAURI_DRIVER and WINTERMUTE_WEBKIT_DRIVER

# Build output lives outside the clone, so fresh clones (CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wintermute/target}"
# Incremental compilation state is several GB per workspace and buys little for whole builds.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The repository root, whichever script sourced this file.
WM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export WM_ROOT

say() { printf '==> %s\n' "$*"; }

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# --- exit handlers ----------------------------------------------------------

_wm_exit_cmds=()

_wm_run_exit_cmds() {
	local i
	for ((i = ${#_wm_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_wm_exit_cmds[i]}" || true
	done
	_wm_exit_cmds=()
}

# at_exit COMMAND...: the words are quoted here, so pass them as separate arguments.
at_exit() {
	_wm_exit_cmds+=("$(printf '%q ' "$@")")
}

trap _wm_run_exit_cmds EXIT
# Ctrl-C or a kill still runs the exit handlers (in a script; an interactive shell keeps its own).
if [[ $- != *i* ]]; then
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi

# --- packages ---------------------------------------------------------------

_wm_apt_updated=0

_wm_pkg_installed() {
	local status
	status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
	[[ "$status" == "install ok installed" ]]
}

need_apt() {
	local missing=() pkg
	for pkg in "$@"; do
		_wm_pkg_installed "$pkg" || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0

	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "missing Debian packages: ${missing[*]} (install them as root)"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ((_wm_apt_updated == 0)); then
		say "apt-get update"
		"${sudo[@]}" apt-get update -qq
		_wm_apt_updated=1
	fi
	_wm_apt_install "${sudo[@]}" -- "${missing[@]}"
}

# _wm_apt_install [SUDO] -- [APT-OPTION...] PKG...: apt-get install with services blocked.
_wm_apt_install() {
	local sudo=()
	while [[ "$1" != -- ]]; do
		sudo+=("$1")
		shift
	done
	shift
	say "installing $*"
	_wm_block_services "${sudo[@]}"
	local log
	log="$(mktemp)"
	if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		die "apt-get install $* failed"
	fi
	rm -f "$log"
	_wm_unblock_services
}

# The local provider runs guests with qemu-system-x86_64 and makes disks with qemu-img (qemu-utils).
# Both come from the same source package and must have the same version: installing Debian 12's
# qemu-system-x86 next to a newer backported qemu-utils would remove qemu-utils. So when they
# differ (or one is missing), both are installed at the version the system emulator has.
need_qemu() {
	need_apt debootstrap e2fsprogs
	local sys utils
	sys="$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)"
	utils="$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)"
	if _wm_pkg_installed qemu-system-x86 && _wm_pkg_installed qemu-utils && [[ "$sys" == "$utils" ]]; then
		return 0
	fi
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "qemu-system-x86 and qemu-utils need installing (as root)"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ((_wm_apt_updated == 0)); then
		say "apt-get update"
		"${sudo[@]}" apt-get update -qq
		_wm_apt_updated=1
	fi
	local version
	if _wm_pkg_installed qemu-system-x86; then
		version="$sys"
	else
		version="$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')"
		[[ -n "$version" && "$version" != "(none)" ]] || die "no installable qemu-system-x86 package"
	fi
	_wm_apt_install "${sudo[@]}" -- --allow-downgrades "qemu-system-x86=$version" "qemu-utils=$version"
}

# The tests run their own servers (sshd, PostgreSQL) on loopback, so installing a package must not
# start its system service (Debian's postinst scripts would, e.g. sshd on port 22). invoke-rc.d asks
# /usr/sbin/policy-rc.d first; exit status 101 means "action forbidden". An existing policy-rc.d
# (Docker images ship one) is left alone; ours is removed after the install, or at exit if it fails.
_wm_policy_rc_d=/usr/sbin/policy-rc.d
_wm_policy_rc_d_ours=0     # 1 while the policy-rc.d there is the one written below
_wm_policy_rc_d_sudo=()    # how it was written (sudo or nothing), to remove it the same way
_wm_policy_rc_d_at_exit=0

# _wm_block_services [SUDO]: install the refusing policy-rc.d unless one is there.
_wm_block_services() {
	[[ -e "$_wm_policy_rc_d" ]] && return 0
	# shellcheck disable=SC2016 # $1 is expanded by the inner sh
	"$@" sh -c 'printf "#!/bin/sh\nexit 101\n" >"$1" && chmod 755 "$1"' sh "$_wm_policy_rc_d" ||
		die "could not write $_wm_policy_rc_d"
	_wm_policy_rc_d_ours=1
	_wm_policy_rc_d_sudo=("$@")
	if ((_wm_policy_rc_d_at_exit == 0)); then
		at_exit _wm_unblock_services
		_wm_policy_rc_d_at_exit=1
	fi
}

# Removes the policy-rc.d that _wm_block_services wrote (nothing if it wrote none).
_wm_unblock_services() {
	if ((_wm_policy_rc_d_ours == 1)); then
		"${_wm_policy_rc_d_sudo[@]}" rm -f "$_wm_policy_rc_d" || true
		_wm_policy_rc_d_ours=0
	fi
}

# --- Rust -------------------------------------------------------------------

need_cargo() {
	if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
		# shellcheck source=/dev/null
		. "$HOME/.cargo/env"
	fi
	command -v cargo >/dev/null ||
		die "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
}

need_rust() {
	need_cargo
	command -v rustup >/dev/null || die "rustup not found: it is needed to add the wasm32 target, clippy and rustfmt"
	# (Output captured first: with pipefail, `rustup ... | grep -q` can fail on SIGPIPE.)
	local targets components
	targets="$(rustup target list --installed)"
	components="$(rustup component list --installed)"
	if ! grep -qx wasm32-unknown-unknown <<<"$targets"; then
		say "adding the Rust target wasm32-unknown-unknown"
		rustup target add wasm32-unknown-unknown
	fi
	local comp
	for comp in clippy rustfmt; do
		if ! grep -q "^$comp" <<<"$components"; then
			say "adding the Rust component $comp"
			rustup component add "$comp"
		fi
	done
}

# --- frontend tools ---------------------------------------------------------

# Tools built with `cargo install` live here, outside the clone, so every clone reuses them.
WM_TOOLS="$HOME/.cache/wintermute/tools"

need_wasm_bindgen() {
	need_cargo
	local version
	version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$WM_ROOT/Cargo.lock")"
	[[ -n "$version" ]] || die "Cargo.lock names no wasm-bindgen version"
	WM_WASM_BINDGEN="$WM_TOOLS/bin/wasm-bindgen"
	export WM_WASM_BINDGEN
	# The CLI must match the crate exactly, or the generated glue does not fit the module.
	if [[ -x "$WM_WASM_BINDGEN" && "$("$WM_WASM_BINDGEN" --version 2>/dev/null)" == "wasm-bindgen $version" ]]; then
		return 0
	fi
	say "installing wasm-bindgen-cli $version into $WM_TOOLS (cargo install; takes minutes, once)"
	# --locked first (the versions its authors tested); if the registry lacks one of those, the
	# newest compatible ones.
	local target="$HOME/.cache/wintermute/target-tools"
	if ! CARGO_TARGET_DIR="$target" cargo install --quiet --locked --force --root "$WM_TOOLS" wasm-bindgen-cli --version "$version"; then
		say "cargo install --locked failed; trying without --locked"
		CARGO_TARGET_DIR="$target" cargo install --quiet --force --root "$WM_TOOLS" wasm-bindgen-cli --version "$version" ||
			die "cargo install wasm-bindgen-cli $version failed"
	fi
	[[ "$("$WM_WASM_BINDGEN" --version 2>/dev/null)" == "wasm-bindgen $version" ]] ||
		die "$WM_WASM_BINDGEN is not version $version after installing it"
}

need_frontend_js() {
	command -v npm >/dev/null || need_apt nodejs npm
	local dir="$WM_ROOT/frontend" stamp sum
	stamp="$dir/node_modules/.wintermute-lock-sha256"
	sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
		return 0
	fi
	say "npm ci in frontend/ (xterm.js, from package-lock.json)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in frontend/ failed"
	echo "$sum" >"$stamp"
}

need_chromium() {
	need_apt chromium chromium-driver
	export WINTERMUTE_CHROMIUM="${WINTERMUTE_CHROMIUM:-/usr/bin/chromium}"
	export WINTERMUTE_CHROMEDRIVER="${WINTERMUTE_CHROMEDRIVER:-/usr/bin/chromedriver}"
}

# --- desktop app -----------------------------------------------------------

# tauri-driver: the WebDriver front of the desktop tests (it starts WebKitWebDriver).
WM_TAURI_DRIVER_VERSION=2.1.0

need_desktop() {
	need_apt pkg-config libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev \
		webkit2gtk-driver xvfb xauth rpm dpkg-dev gnome-keyring dbus-daemon
	need_cargo
	export WINTERMUTE_TAURI_DRIVER="$WM_TOOLS/bin/tauri-driver"
	export WINTERMUTE_WEBKIT_DRIVER="${WINTERMUTE_WEBKIT_DRIVER:-/usr/bin/WebKitWebDriver}"
	if [[ -x "$WINTERMUTE_TAURI_DRIVER" ]] &&
		cargo install --list --root "$WM_TOOLS" 2>/dev/null | grep -qx "tauri-driver v$WM_TAURI_DRIVER_VERSION:"; then
		return 0
	fi
	say "installing tauri-driver $WM_TAURI_DRIVER_VERSION into $WM_TOOLS (cargo install; takes minutes, once)"
	CARGO_TARGET_DIR="$HOME/.cache/wintermute/target-tools" \
		cargo install --quiet --locked --force --root "$WM_TOOLS" tauri-driver --version "$WM_TAURI_DRIVER_VERSION" ||
		die "cargo install tauri-driver $WM_TAURI_DRIVER_VERSION failed"
}

# --- EC2 emulator -----------------------------------------------------------

# The cloud tests run against moto in server mode (see core/cloud-aws/tests/common/mod.rs).
# It lives in a venv of its own, made once and reused by every clone.
need_moto() {
	local venv="$HOME/.cache/wintermute/venv"
	if [[ ! -x "$venv/bin/python3" || ! -x "$venv/bin/pip" ]]; then
		# Debian splits venv support (ensurepip) out of python3.
		if command -v dpkg-query >/dev/null; then
			need_apt python3 python3-venv
		fi
		command -v python3 >/dev/null || die "python3 not found: it is needed for the EC2 emulator (moto)"
		say "creating the Python venv $venv (for the EC2 emulator)"
		mkdir -p "$(dirname "$venv")"
		# --clear: start over if an earlier attempt left a venv without pip.
		python3 -m venv --clear "$venv" || die "python3 -m venv $venv failed"
	fi
	if [[ ! -x "$venv/bin/moto_server" ]]; then
		say "installing the EC2 emulator: pip install 'moto[ec2,server]' into $venv"
		"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check 'moto[ec2,server]' ||
			die "pip install 'moto[ec2,server]' failed"
	fi
	export WINTERMUTE_MOTO_SERVER="$venv/bin/moto_server"
}

# --- OpenStack test lab -----------------------------------------------------

# The OpenStack provider's tests run a real Keystone (SQLite, served by gunicorn on loopback) and
# check their fake cloud against the official clients (see core/cloud-openstack/src/testing).
# A venv of their own: Keystone pins versions that the EC2 emulator's venv must not be bound to.
need_openstack() {
	local venv="$HOME/.cache/wintermute/venv-openstack"
	if [[ ! -x "$venv/bin/python3" || ! -x "$venv/bin/pip" ]]; then
		if command -v dpkg-query >/dev/null; then
			need_apt python3 python3-venv
		fi
		command -v python3 >/dev/null || die "python3 not found: it is needed for the OpenStack test lab"
		say "creating the Python venv $venv (for Keystone and the OpenStack clients)"
		mkdir -p "$(dirname "$venv")"
		python3 -m venv --clear "$venv" || die "python3 -m venv $venv failed"
	fi
	if [[ ! -x "$venv/bin/keystone-manage" || ! -x "$venv/bin/gunicorn" || ! -x "$venv/bin/openstack" ]]; then
		say "installing Keystone, gunicorn, openstacksdk and python-openstackclient into $venv"
		"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
			keystone gunicorn openstacksdk python-openstackclient ||
			die "pip install keystone gunicorn openstacksdk python-openstackclient failed"
	fi
	export WINTERMUTE_OPENSTACK_VENV="$venv"
}

# --- throwaway PostgreSQL ---------------------------------------------------

# Prints a TCP port that nothing listens on right now.
_wm_free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' && return 0
	fi
	local port
	for port in $(shuf -i 20000-60999 -n 100); do
		if [[ -z "$(ss -Hltn "sport = :$port")" ]]; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

start_test_postgres() {
	local bindir
	bindir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)"
	[[ -n "$bindir" && -x "$bindir/initdb" ]] ||
		die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (need_apt postgresql first)"

	# initdb refuses to run as root: as root the cluster belongs to the user postgres.
	local as=() tmp
	if ((EUID == 0)); then
		as=(runuser -u postgres --)
		tmp="$(mktemp -d /tmp/wintermute-pg.XXXXXX)"
		chown postgres: "$tmp"
	else
		tmp="$(mktemp -d "${TMPDIR:-/tmp}/wintermute-pg.XXXXXX")"
	fi
	chmod 700 "$tmp"
	at_exit _wm_stop_test_postgres "$tmp" "$bindir" "${as[@]}"

	say "starting a throwaway PostgreSQL ($("$bindir/postgres" --version | awk '{print $3}')) in $tmp"
	# Run from the cluster's folder: the user postgres may not be allowed into the current one.
	(cd "$tmp" && "${as[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$tmp/initdb.log" 2>&1) || {
		cat "$tmp/initdb.log" >&2
		die "initdb failed"
	}
	# Trust, but only for the unix socket and loopback.
	cat >"$tmp/data/pg_hba.conf" <<-'EOF'
		local all all trust
		host  all all 127.0.0.1/32 trust
		host  all all ::1/128 trust
	EOF

	local port attempt
	for attempt in 1 2 3; do
		port="$(_wm_free_port)" || die "no free TCP port found"
		cat >"$tmp/data/postgresql.auto.conf" <<-EOF
			listen_addresses = '127.0.0.1'
			port = $port
			unix_socket_directories = '$tmp'
			max_connections = 300
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
		if (cd "$tmp" && "${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 start >/dev/null); then
			export WINTERMUTE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
			say "PostgreSQL listening: $WINTERMUTE_TEST_POSTGRES_URL"
			return 0
		fi
		# Most likely the port was taken between picking and binding: try another.
		tail -n 20 "$tmp/postgres.log" >&2 || true
		say "PostgreSQL did not start on port $port (attempt $attempt of 3)"
	done
	die "could not start PostgreSQL (log: $tmp/postgres.log)"
}

# _wm_stop_test_postgres DIR BINDIR [RUN-AS...]
_wm_stop_test_postgres() {
	local tmp="$1" bindir="$2"
	shift 2
	if [[ -f "$tmp/data/postmaster.pid" ]]; then
		(cd "$tmp" && "$@" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1) || true
	fi
	rm -rf "$tmp"
}
