#!/bin/sh
# build.sh — build the OpenSSL versions of the compatibility matrix from
# Debian's own source packages, and the test programs against each of them.
#
# Usage: sh tests/compat/build.sh [SLOT...]     (default: every line of tests/compat/versions)
#
# For each version (build/compat/<slot>/):
#   deb/       the source package as `apt-get source --download-only` fetched it
#   install/   `./config shared` installed here (bin/openssl, lib/, include/, ssl/);
#              never anywhere else on the system
#   tests/     tls_server, tls_client, corrupt_proxy, callback_check compiled
#              against this version's headers and linked to its libssl
#   stamp      what was built, and with which configuration
#   status     "ok", "skip: <why>" (the source package could not be had)
#              or "fail: <why>"; tests/compat/run.py reads it
#   build.log  the configure/make output of the last build
# and build/compat/dual/<main>+<module>/: the two-versions-in-one-process test.
#
# A warm run rebuilds nothing: a version whose stamp matches, whose libssl and
# openssl binary are installed, is taken as it is; the test programs are
# rebuilt only when their sources changed.
#
# Fetching needs root: a deb-src entry for the release is added under
# /etc/apt/sources.list.d/ in a file of its own, `apt-get update` run, the
# source downloaded, and the entry removed again (with a second `apt-get
# update`, so the package lists are as they were), whatever happens.  Only
# the mirror the system already uses is asked.
#
# Exit status: 0 when every version was built or skipped, 1 when a build failed.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/compat"
# The cache: build/compat, or COMPAT_DIR (an absolute path that outlives the
# work tree, for CI runs that start from a fresh clone).  The builds name their
# own folder (rpath, openssldir): a moved cache rebuilds.
CACHE=${COMPAT_DIR:-$ROOT/build/compat}
case "$CACHE" in /*) ;; *) CACHE="$(pwd)/$CACHE" ;; esac
FIX="$ROOT/tests/fixtures"
JOBS=${JOBS:-2}
CC=${CC:-cc}
# The fixtures' flags, as the top-level Makefile builds them.
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
-Wformat=2 -Wno-format-nonliteral -Wno-format-truncation"
FIX_CFLAGS="-O2 -g $WARN -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer -rdynamic"
FIXTURES="tls_server tls_client corrupt_proxy callback_check"
APT_PREFIX=/etc/apt/sources.list.d/sslshim-compat-

say() { echo "compat: $*"; }

# ---------------------------------------------------------------- the table

VERSIONS=${COMPAT_VERSIONS:-$HERE/versions}   # the table; another one for testing this script
slots_all() { awk '!/^#/ && NF >= 4 { print $1 }' "$VERSIONS"; }
field() {   # field SLOT N
    awk -v s="$1" -v n="$2" '!/^#/ && $1 == s { print $n }' "$VERSIONS"
}

# What a build is configured with; a change here rebuilds.  The rpath lets
# libssl find its own libcrypto (and the programs their libssl) even where
# LD_LIBRARY_PATH names another version's folder first.
configure_args() {   # PREFIX
    echo "shared no-tests --prefix=$1 --openssldir=$1/ssl --libdir=lib -Wl,-rpath,$1/lib"
}

is_built() {   # SLOT
    p="$CACHE/$1/install"
    so=$(field "$1" 4)
    [ -f "$CACHE/$1/stamp" ] && [ -e "$p/lib/libssl.so.$so" ] && [ -x "$p/bin/openssl" ] &&
        grep -qxF "configure=$(configure_args "$p")" "$CACHE/$1/stamp"
}

have_source() { ls "$CACHE/$1"/deb/openssl_*.dsc >/dev/null 2>&1; }

set_status() { mkdir -p "$CACHE/$1"; echo "$2" >"$CACHE/$1/status"; }

# ---------------------------------------------------------------- fetching

# The URI and keyring of the system's own Debian mirror: the first enabled
# `deb` entry (deb822 .sources or one-line .list) for this system's codename.
system_mirror() {
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || return 0
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v c="$codename" '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = uris = suites = key = ""; enabled = 1
                for (i = 1; i <= NF; i++) {
                    l = $i
                    if (l ~ /^#/) continue
                    if (l ~ /^Types:/) types = l
                    if (l ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l); split(l, u, /[ \t]+/); uris = u[1] }
                    if (l ~ /^Suites:/) suites = l " "
                    if (l ~ /^Signed-By:/) { sub(/^Signed-By:[ \t]*/, "", l); key = l }
                    if (l ~ /^Enabled:[ \t]*no/) enabled = 0
                }
                if (enabled && types ~ /[ \t]deb([ \t]|$)/ && index(suites, " " c " ") && uris != "") {
                    print uris " " key; exit
                }
            }' "$f"
    done | head -n 1 | grep . && return 0
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v c="$codename" '$1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == c) { print $i; exit }
        }'
}

fetch_cleanup() {
    if ls "$APT_PREFIX"*.sources >/dev/null 2>&1; then
        rm -f "$APT_PREFIX"*.sources
        say "removed the deb-src entries; apt-get update"
        apt-get update -qq >/dev/null 2>&1 || say "warning: the closing apt-get update failed"
    fi
}

# Fetch the source packages of the slots given; a slot that cannot be fetched
# gets status "skip: …".
fetch() {
    if [ "$(id -u)" != 0 ]; then
        for s in "$@"; do
            set_status "$s" "skip: fetching openssl/$(field "$s" 2) needs root (apt-get source with a deb-src entry)"
        done
        return 0
    fi
    for tool in apt-get dpkg-source; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            for s in "$@"; do set_status "$s" "skip: $tool is missing (apt-get install dpkg-dev)"; done
            return 0
        fi
    done
    m=$(system_mirror)
    uri=${m%% *}
    key=${m#"$uri"}; key=${key# }
    if [ -z "$uri" ]; then
        for s in "$@"; do set_status "$s" "skip: no Debian mirror found in /etc/apt/sources.list*"; done
        return 0
    fi
    trap 'fetch_cleanup' EXIT
    trap 'fetch_cleanup; exit 130' INT TERM
    for s in "$@"; do
        rel=$(field "$s" 2)
        {
            echo "# added by sslshim tests/compat/build.sh for the OpenSSL $s source package; removed after the download"
            echo "Types: deb-src"
            echo "URIs: $uri"
            echo "Suites: $rel"
            echo "Components: main"
            [ -z "$key" ] || echo "Signed-By: $key"
        } >"$APT_PREFIX$rel.sources"
    done
    say "deb-src entries for $(for s in "$@"; do printf '%s ' "$(field "$s" 2)"; done)from $uri; apt-get update"
    if ! apt-get update -qq >"$CACHE/apt-update.log" 2>&1; then
        sed 's/^/    /' "$CACHE/apt-update.log" | tail -n 5
    fi
    for s in "$@"; do
        rel=$(field "$s" 2)
        d="$CACHE/$s/deb"
        want=$(field "$s" 3)
        mkdir -p "$CACHE/$s"
        : >"$CACHE/$s/fetch.log"
        # The newest version of the release first (openssl/<release>), then
        # every other version of that upstream series the index lists, newest
        # first: a mirror can list a version whose files it does not have yet.
        got=""
        for v in "/$rel" $(apt-cache showsrc openssl 2>/dev/null | sed -n 's/^Version: //p' |
                           grep -F "$want" | grep "^$want" | sort -u -r -V | sed 's/^/=/'); do
            rm -rf "$d.part" && mkdir -p "$d.part"
            # apt's download sandbox user must be able to write there.
            chmod 0777 "$d.part"
            echo "== apt-get source --download-only openssl$v" >>"$CACHE/$s/fetch.log"
            if (cd "$d.part" && apt-get source -qq --download-only "openssl$v") \
                    >>"$CACHE/$s/fetch.log" 2>&1 && ls "$d.part"/openssl_*.dsc >/dev/null 2>&1; then
                got=$v
                break
            fi
        done
        if [ -n "$got" ]; then
            chmod 0755 "$d.part"
            rm -rf "$d" && mv "$d.part" "$d"
            say "$s: fetched $(basename "$d"/openssl_*.dsc) (apt-get source openssl$got)"
        else
            rm -rf "$d.part"
            listed=$(apt-cache showsrc openssl 2>/dev/null | sed -n 's/^Version: //p' | sort -u -V |
                     tr '\n' ' ')
            case " $listed" in
                *" $want"*) why=$(grep -E '^(E|W):' "$CACHE/$s/fetch.log" | grep -v unsandboxed |
                                  head -n 1) ;;
                *) why="the index lists openssl ${listed:-nothing}but no $want" ;;
            esac
            set_status "$s" "skip: the source package openssl/$rel could not be downloaded (${why:-see $CACHE/$s/fetch.log})"
            say "$s: SKIPPED: the source package openssl/$rel could not be downloaded"
            sed 's/^/    /' "$CACHE/$s/fetch.log" | tail -n 5
        fi
    done
    trap - EXIT INT TERM
    fetch_cleanup
}

# ---------------------------------------------------------------- building

# Only the software, no manual pages, each part with -j: 1.1.1 has
# build_libs, build_engines and build_programs; 3.x build_modules too.  (One
# make with all of them would run their recursive makes side by side.)
build_targets() {
    for t in build_libs build_modules build_engines build_programs; do
        if grep -q "^$t:" Makefile; then
            echo "== make -j$JOBS $t"
            make -j"$JOBS" "$t" || return 1
        fi
    done
}

build_openssl() {   # SLOT
    s=$1
    dir="$CACHE/$s"
    p="$dir/install"
    want=$(field "$s" 3)
    dsc=$(find "$dir/deb" -name 'openssl_*.dsc' | head -n 1)
    debver=$(sed -n 's/^Version: //p' "$dsc" | head -n 1)
    case "$debver" in
        "$want"*) ;;
        *) set_status "$s" "fail: openssl/$(field "$s" 2) is $debver, not $want: update tests/compat/versions"
           say "$s: FAILED: the source package is $debver, not $want"
           return 1 ;;
    esac
    say "$s: building OpenSSL $debver (make -j$JOBS; log in $CACHE/$s/build.log)"
    start=$(date +%s)
    rm -rf "$dir/src" "$p" "$dir/stamp" "$dir/tests"
    log="$dir/build.log"
    args=$(configure_args "$p")
    # shellcheck disable=SC2086  # args is a word list on purpose
    if ! {
        dpkg-source --no-check -x "$dsc" "$dir/src" &&
        cd "$dir/src" &&
        ./config $args &&
        build_targets &&
        make install_sw install_ssldirs &&
        cd "$ROOT"
    } >"$log" 2>&1; then
        cd "$ROOT"
        set_status "$s" "fail: building OpenSSL $debver failed ($CACHE/$s/build.log)"
        say "$s: FAILED: building OpenSSL $debver; the end of $CACHE/$s/build.log:"
        tail -n 25 "$log" | sed 's/^/    /'
        return 1
    fi
    # The objects (hundreds of MB) go; the .dsc rebuilds them without a
    # download.  dpkg-source left a link to the upstream tarball beside src/.
    rm -rf "$dir/src" "$dir"/openssl_*.orig.tar.*
    {
        echo "debian_version=$debver"
        echo "configure=$args"
        echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) seconds=$(($(date +%s) - start))"
    } >"$dir/stamp"
    say "$s: built OpenSSL $debver in $(($(date +%s) - start)) s: $("$p/bin/openssl" version)"
}

# cc_if_stale OUT SOURCES... -- CC ARGS...: compile when OUT is missing or older
# than one of the sources.
cc_if_stale() {
    out=$1; shift
    stale=0
    [ -e "$out" ] || stale=1
    while [ "$1" != "--" ]; do
        [ -n "$(find "$1" -newer "$out" 2>/dev/null)" ] && stale=1
        shift
    done
    shift
    [ "$stale" = 1 ] || return 0
    mkdir -p "$(dirname "$out")"
    "$@" -o "$out"
}

# The fixtures against one version: INCLUDE/LIB flags for it, and where to put them.
build_fixtures() {   # SLOT
    p="$CACHE/$1/install"
    for f in $FIXTURES; do
        # shellcheck disable=SC2086
        cc_if_stale "$CACHE/$1/tests/$f" "$FIX/$f.c" "$FIX/common.c" "$FIX/common.h" \
            "$CACHE/$1/stamp" -- \
            $CC $FIX_CFLAGS -I"$p/include" "$FIX/$f.c" "$FIX/common.c" \
            -L"$p/lib" -Wl,-rpath,"$p/lib" -lssl -lcrypto -lpthread
    done
}

# Our own programs against one version, "system" included: errq_probe
# (tests/compat/errq_probe.c), and dual_module.so for late_main.
build_probe() {   # SLOT|system
    deps="$HERE/errq_probe.c $FIX/common.c $FIX/common.h"
    [ "$1" = system ] || deps="$deps $CACHE/$1/stamp"
    # shellcheck disable=SC2086,SC2046  # word lists on purpose
    cc_if_stale "$CACHE/$1/tests/errq_probe" $deps -- \
        $CC $FIX_CFLAGS $(flags_of "$1") -I"$FIX" "$HERE/errq_probe.c" "$FIX/common.c" \
        -lssl -lcrypto -lpthread
    deps="$HERE/dual_conn.c $HERE/dual_conn.h"
    [ "$1" = system ] || deps="$deps $CACHE/$1/stamp"
    # shellcheck disable=SC2086,SC2046
    cc_if_stale "$CACHE/$1/tests/dual_module.so" $deps -- \
        $CC $FIX_CFLAGS -fPIC -shared -DDUAL_MODULE $(flags_of "$1") "$HERE/dual_conn.c" \
        -lssl -lcrypto
}

# The two-versions test: dual_main linked to MAIN, dual_module.so to MODULE.
# "system" is the system's OpenSSL (the default include and library paths).
flags_of() {   # SLOT|system
    if [ "$1" = system ]; then
        echo ""
    else
        p="$CACHE/$1/install"
        echo "-I$p/include -L$p/lib -Wl,-rpath,$p/lib"
    fi
}

build_dual() {   # MAIN MODULE
    d="$CACHE/dual/$1+$2"
    deps="$HERE/dual_main.c $HERE/dual_conn.c $HERE/dual_conn.h"
    for s in "$1" "$2"; do [ "$s" = system ] || deps="$deps $CACHE/$s/stamp"; done
    # shellcheck disable=SC2086,SC2046
    cc_if_stale "$d/dual_main" $deps -- \
        $CC $FIX_CFLAGS $(flags_of "$1") "$HERE/dual_main.c" "$HERE/dual_conn.c" \
        -lssl -lcrypto -ldl -lpthread
    # shellcheck disable=SC2086,SC2046
    cc_if_stale "$d/dual_module.so" $deps -- \
        $CC $FIX_CFLAGS -fPIC -shared -DDUAL_MODULE $(flags_of "$2") "$HERE/dual_conn.c" \
        -lssl -lcrypto
}

# ---------------------------------------------------------------- main

mkdir -p "$CACHE"
SLOTS=${*:-$(slots_all)}
for s in $SLOTS; do
    [ -n "$(field "$s" 2)" ] || { echo "compat: no version '$s' in tests/compat/versions" >&2; exit 2; }
    rm -f "$CACHE/$s/status"
done

need=""
for s in $SLOTS; do
    if is_built "$s"; then
        say "$s: cached: $(sed -n 's/^debian_version=//p' "$CACHE/$s/stamp") in $CACHE/$s/install"
    elif ! have_source "$s"; then
        need="$need $s"
    fi
done
# shellcheck disable=SC2086
[ -z "$need" ] || fetch $need

rc=0
for s in $SLOTS; do
    [ -f "$CACHE/$s/status" ] && continue          # skipped while fetching
    if ! is_built "$s"; then
        build_openssl "$s" || { rc=1; continue; }
    fi
    if { build_fixtures "$s" && build_probe "$s"; } >"$CACHE/$s/fixtures.log" 2>&1; then
        set_status "$s" ok
    else
        set_status "$s" "fail: the test programs do not compile against OpenSSL $s ($CACHE/$s/fixtures.log)"
        say "$s: FAILED: compiling the test programs:"
        tail -n 25 "$CACHE/$s/fixtures.log" | sed 's/^/    /'
        rc=1
    fi
done

# The system's OpenSSL: its fixtures are the top-level Makefile's (build/tests);
# the probe is ours.
mkdir -p "$CACHE/system"
# shellcheck disable=SC2086
if ! { build_probe system &&
       cc_if_stale "$CACHE/late_main" "$HERE/late_main.c" "$HERE/dual_conn.h" -- \
           $CC $FIX_CFLAGS "$HERE/late_main.c" -ldl; } >"$CACHE/system/fixtures.log" 2>&1; then
    say "FAILED: compiling errq_probe against the system's OpenSSL:"
    tail -n 25 "$CACHE/system/fixtures.log" | sed 's/^/    /'
    rc=1
fi

# Two versions in one process: a program linked to one, a dlopen()ed module to
# the other.  Both orders that have different sonames: system 3.0 + 1.1.1,
# and 1.1.1 + the newer 3.x.
ok() { [ "$1" = system ] || [ "$(cat "$CACHE/$1/status" 2>/dev/null)" = ok ]; }
newer=$(slots_all | awk '$1 !~ /^1\./' | tail -n 1)
for pair in "system 1.1.1" "1.1.1 $newer"; do
    # shellcheck disable=SC2086
    set -- $pair
    if [ $# != 2 ] || ! ok "$1" || ! ok "$2"; then continue; fi
    if ! build_dual "$1" "$2" >"$CACHE/dual-build.log" 2>&1; then
        say "FAILED: compiling the two-versions test $1+$2:"
        tail -n 25 "$CACHE/dual-build.log" | sed 's/^/    /'
        rc=1
    fi
done
exit $rc
