#!/usr/bin/env bash
# Build the securedrop-updater RPM and SRPM, reproducibly, from git HEAD.
#
# usage: rpm/build.sh [--worktree]
#
#   (default)   build the committed tree (git archive of HEAD). The same commit
#               gives the same bytes, whenever and wherever it is built with
#               the same build tools (see docs/rpm.md).
#   --worktree  build the working tree as it is (tracked and untracked files
#               git does not ignore), for development only.
#
# Writes dist/securedrop-updater-<version>-<release>.noarch.rpm and the
# .src.rpm beside it, then prints "<sha256>  <path>" for each, the binary
# RPM last. Needs git, gzip, tar, sha256sum, rpmbuild and python3 (3.11 or
# later, standard library only); no virtualenv.
set -euo pipefail

umask 022
export LC_ALL=C TZ=UTC

name=securedrop-updater
spec_path=rpm/$name.spec

die() {
    echo "rpm/build.sh: error: $*" >&2
    exit 1
}

source_mode="head"
case "${1-}" in
    "") ;;
    --worktree) source_mode="worktree" ;;
    -h | --help)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (usage: rpm/build.sh [--worktree])" ;;
esac
[ $# -le 1 ] || die "too many arguments (usage: rpm/build.sh [--worktree])"

for tool in git gzip tar sha256sum rpmbuild python3; do
    command -v "$tool" >/dev/null || die "$tool not found (on Debian: apt-get install rpm git python3)"
done
# The spec's %build writes the manual pages with python3 (launcher/manpage.py).
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 is $(python3 -c 'import platform; print(platform.python_version())'); the manual pages need 3.11 or later"

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || die "not inside a git repository"
cd "$repo"

# Personal or system git settings must not change the archive's bytes. They
# are overridden one by one rather than ignored wholesale, since CI may need
# its global safe.directory.
git_pure() {
    git -c tar.umask=022 -c core.autocrlf=false -c core.eol=lf \
        -c core.attributesFile=/dev/null "$@"
}

# read_source PATH: the file's content in the tree being built.
read_source() {
    if [ "$source_mode" = head ]; then
        git cat-file blob "HEAD:$1" 2>/dev/null || die "$1 is not in HEAD"
    else
        cat "$1" 2>/dev/null || die "$1 is missing"
    fi
}

if [ "$source_mode" = head ]; then
    git rev-parse --verify --quiet HEAD >/dev/null \
        || die "the repository has no commit yet; commit, or build with --worktree"
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
        echo "rpm/build.sh: note: building HEAD; uncommitted changes are not included" >&2
    fi
    epoch=$(git log -1 --format=%ct HEAD)
else
    epoch=$(git log -1 --format=%ct HEAD 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH=$epoch

version=$(read_source sdw_updater/version.py | sed -n 's/^__version__ = "\([^"]*\)"$/\1/p')
[ -n "$version" ] || die "no __version__ in sdw_updater/version.py"
spec=$(read_source "$spec_path")
spec_version=$(printf '%s\n' "$spec" | sed -n 's/^Version:[[:space:]]*\([^[:space:]]*\)[[:space:]]*$/\1/p')
spec_release=$(printf '%s\n' "$spec" | sed -n 's/^Release:[[:space:]]*\([^[:space:]]*\)[[:space:]]*$/\1/p')
[ -n "$spec_release" ] || die "no Release in $spec_path"
[ "$spec_version" = "$version" ] \
    || die "$spec_path has Version '$spec_version' but sdw_updater/version.py says '$version'"

work=$(mktemp -d "${TMPDIR:-/tmp}/$name-rpm.XXXXXXXX")
trap 'rm -rf "$work"' EXIT
topdir=$work/rpmbuild
mkdir -p "$topdir/SOURCES" "$topdir/SPECS" "$topdir/BUILD" "$work/home" "$work/tmp"

# The source tarball: same commit, same bytes (git archive stamps every entry
# with the commit time; gzip -n leaves out the name and the time).
tarball=$topdir/SOURCES/$name-$version.tar.gz
if [ "$source_mode" = head ]; then
    git_pure archive --format=tar --prefix="$name-$version/" HEAD | gzip -n -9 >"$tarball"
else
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do
            # Tracked files deleted from the working tree are left out.
            if [ -e "$f" ]; then printf '%s\0' "$f"; fi
        done \
        | tar --null --files-from=- --sort=name --mtime="@$epoch" \
            --owner=0 --group=0 --numeric-owner --mode=go-w \
            --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
            --transform="s,^,$name-$version/," -cf - \
        | gzip -n -9 >"$tarball"
fi
printf '%s\n' "$spec" >"$topdir/SPECS/$name.spec"
# The SRPM records the mtimes of the spec and the tarball.
touch -d "@$epoch" "$tarball" "$topdir/SPECS/$name.spec"

# HOME points at an empty directory so no ~/.rpmmacros or ~/.rpmrc applies.
# --nodeps: Debian has no rpm database of its own packages to check the build
# dependencies (python3, gzip) against; the tool check above did.
# The SRPM's header records the spec with its macros expanded, %{SOURCE0}
# included: _sourcedir is relative to the build directory, where rpmbuild
# runs and where every section of the spec starts, so it expands to
# ../SOURCES/<tarball> wherever the build runs.
log=$work/rpmbuild.log
run_rpmbuild() {
    (cd "$topdir/BUILD" && HOME=$work/home "$@" --nodeps \
        --define "_topdir $topdir" \
        --define "_sourcedir ../SOURCES" \
        --define "_tmppath $work/tmp" \
        --define "_buildhost reproducible" \
        --define "use_source_date_epoch_as_buildtime 1" \
        --define "clamp_mtime_to_source_date_epoch 1" \
        --define "source_date_epoch_from_changelog 0" \
        --define "_source_payload w9.gzdio" \
        --define "_binary_payload w9.gzdio" \
        --define "_source_filedigest_algorithm 8" \
        --define "_binary_filedigest_algorithm 8" \
        --define "_build_id_links none" \
        --define "_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        "$topdir/SPECS/$name.spec") >>"$log" 2>&1 || {
        tail -n 40 "$log" >&2
        die "rpmbuild failed (last lines of its output above)"
    }
}

# rpm 4.18 records the SRPM's files under the builder's user and group names;
# a user namespace makes a non-root builder root there, as in any other build.
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if unshare --map-root-user true 2>/dev/null; then
        as_root=(unshare --map-root-user)
    else
        echo "rpm/build.sh: note: not root and no user namespace: the SRPM records" \
            "your user name (the binary RPM does not)" >&2
    fi
fi
# Two runs, not one -ba: a binary built with its SRPM records the SRPM's
# digest, which would tie the binary's bytes to the SRPM's.
run_rpmbuild "${as_root[@]}" rpmbuild -bs
run_rpmbuild rpmbuild -bb

rpm_file=$name-$version-$spec_release.noarch.rpm
srpm_file=$name-$version-$spec_release.src.rpm
[ -f "$topdir/RPMS/$rpm_file" ] || die "rpmbuild did not produce $rpm_file"
mkdir -p dist
cp "$topdir/SRPMS/$srpm_file" "dist/$srpm_file"
cp "$topdir/RPMS/$rpm_file" "dist/$rpm_file"
sha256sum "dist/$srpm_file" "dist/$rpm_file"
