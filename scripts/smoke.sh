#!/bin/sh
# Smoke run of one release binary on the OS it is built for (release.yml runs it on each: Linux glibc and musl,
# x64 and arm64, macOS, Windows under Git Bash):
#   sh scripts/smoke.sh BINARY VERSION [docker]
# 1. `BINARY --version` prints `ferry VERSION`;
# 2. `BINARY demo -o DIR` serves the sample image from the embedded registry and exports every platform;
# 3. `BINARY inspect oci-archive:FILE` reads one export back, by the OS's own absolute path (C:\… on Windows);
# 4. with `docker`, where a Docker engine runs: `docker load` of the host platform's file, `docker run` prints
#    `hello from linux/ARCH`, and `BINARY copy … docker-daemon:` loads it again through the engine's socket.
set -eu
bin=$1
version=$2
docker=${3:-}

fail() {
  echo "smoke: FAILED: $*" >&2
  exit 1
}

got=$("$bin" --version) || fail "$bin --version exited $?"
[ "$got" = "ferry $version" ] || fail "$bin --version printed '$got', expected 'ferry $version'"
echo "ok: $got"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The OS's own spelling of the directory: C:\Users\…\Temp\tmp.X under Git Bash on Windows.
native=$dir
if command -v cygpath >/dev/null 2>&1; then native=$(cygpath -w "$dir"); fi
case "$native" in
*\\*) sep='\' ;;
*) sep=/ ;;
esac

"$bin" demo -o "$native${sep}demo" || fail "$bin demo exited $?"
for arch in amd64 arm64 armv7; do
  [ -s "$dir/demo/image-$arch.tar.gz" ] || fail "demo wrote no $dir/demo/image-$arch.tar.gz"
done
echo "ok: demo exported amd64, arm64 and armv7"

"$bin" inspect "oci-archive:$native${sep}demo${sep}image-arm64.tar.gz" >"$dir/inspect.txt" ||
  fail "$bin inspect oci-archive:$native${sep}demo${sep}image-arm64.tar.gz exited $?"
grep -q arm64 "$dir/inspect.txt" || fail "inspect of image-arm64.tar.gz does not name arm64: $(cat "$dir/inspect.txt")"
echo "ok: inspect oci-archive:$native${sep}demo${sep}image-arm64.tar.gz"

if [ "$docker" = docker ]; then
  case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no sample platform for $(uname -m)" ;;
  esac
  docker load -i "$dir/demo/image-$arch.tar.gz" || fail "docker load -i image-$arch.tar.gz exited $?"
  hello=$(docker run --rm --network none "sample/app:1.0-$arch") || fail "docker run sample/app:1.0-$arch exited $?"
  case "$hello" in
  "hello from linux/$arch"*) ;;
  *) fail "docker run sample/app:1.0-$arch printed '$hello'" ;;
  esac
  echo "ok: docker load + run: $hello"
  docker rmi "sample/app:1.0-$arch" >/dev/null
  "$bin" copy "oci-archive:$dir/demo/image-$arch.tar.gz" "docker-daemon:smoke/app:$arch" ||
    fail "$bin copy … docker-daemon:smoke/app:$arch exited $?"
  docker image inspect "smoke/app:$arch" >/dev/null || fail "docker-daemon: load left no smoke/app:$arch"
  echo "ok: copy to docker-daemon:smoke/app:$arch"
fi
echo "smoke: all checks passed for $bin"
