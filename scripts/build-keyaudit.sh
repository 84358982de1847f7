# Sourced by the benchmarks: build_keyaudit DEST builds the keyaudit to
# measure into DEST — the working tree, or the commit KEYAUDIT_REF names
# (built from `git archive`, so uncommitted work is left out) — and sets
# KEYAUDIT_LABEL to say which.
build_keyaudit() {
	local dest=$1 rev src
	case $dest in /*) ;; *) dest=$PWD/$dest ;; esac
	if [ -n "${KEYAUDIT_REF:-}" ]; then
		rev=$(git rev-parse --short "$KEYAUDIT_REF^{commit}")
		src=$(mktemp -d "${TMPDIR:-/tmp}/keyaudit-ref.XXXXXX")
		if ! { git archive "$rev" | tar -x -C "$src" && (cd "$src" && go build -o "$dest" ./cmd/keyaudit); }; then
			rm -rf "$src"
			return 1
		fi
		rm -rf "$src"
		KEYAUDIT_LABEL="commit $rev"
		return 0
	fi
	go build -o "$dest" ./cmd/keyaudit
	KEYAUDIT_LABEL="working tree at $(git rev-parse --short HEAD)"
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		KEYAUDIT_LABEL="$KEYAUDIT_LABEL + uncommitted changes"
	fi
}
