#!/usr/bin/env bash
# prune.sh: deletes dumps past their database's retention. Ages come from the S3 server's own times, never
# from this pod's clock: an object's age is how much older it is than the newest complete backup's
# manifest (so a clock years fast deletes nothing more, and while backups fail retention stops, instead of
# eating the history). Nothing in the newest complete backup, and nothing newer than it (a run still
# uploading, a partial run), is ever deleted. A run with a manifest (complete or partial) keeps each dump
# for its database's retention; a run without one (an upload cut short, an old job's backup) goes once all
# of it is past the default retention. Reads every page of the listing.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=stack.sh
. "$here/stack.sh"
require_s3
[ "$default_retention_days" -ge 1 ] || { log "default retention must be at least 1 day, not $default_retention_days"; exit 1; }

listing="$(list_objects)"
newest="$(newest_complete <<< "$listing")"
[ -n "$newest" ] || { log "no complete backup under s3://$S3_BUCKET/$S3_PREFIX: nothing is pruned"; echo "pruned 0 objects; newest complete backup: none"; exit 0; }
reference="$(awk -F'\t' -v k="$S3_PREFIX/$newest/manifest.json" '$1 == k { print $2 }' <<< "$listing")"

declare -A manifest=() oldest_kept=()
while IFS=$'\t' read -r key _; do
    rest="${key#"$S3_PREFIX"/}"
    case "${rest#*/}" in manifest.json | manifest.partial.json) manifest[${rest%%/*}]=1 ;; esac
done <<< "$listing"

doomed=()
while IFS=$'\t' read -r key modified; do
    rest="${key#"$S3_PREFIX"/}"
    run="${rest%%/*}"
    file="${rest#*/}"
    # The newest complete backup, and anything not older than it, stays.
    if [ "$run" = "$newest" ] || [ "$modified" -ge "$reference" ]; then
        oldest_kept[$run]=1
        continue
    fi
    case "$file" in manifest.json | manifest.partial.json) continue ;; esac
    if [ -n "${manifest[$run]:-}" ]; then
        db="${file%.dump}"
        days="${retention[$db]:-$default_retention_days}"
    else
        days="$default_retention_days"
    fi
    if [ $(( (reference - modified) / 86400 )) -ge "$days" ]; then
        doomed+=("$key")
    else
        oldest_kept[$run]=1
    fi
done <<< "$listing"
# A run none of whose dumps is left loses its manifest too.
while IFS=$'\t' read -r key _; do
    rest="${key#"$S3_PREFIX"/}"
    run="${rest%%/*}"
    case "${rest#*/}" in manifest.json | manifest.partial.json) ;; *) continue ;; esac
    if [ -z "${oldest_kept[$run]:-}" ]; then
        doomed+=("$key")
    fi
done <<< "$listing"
# DeleteObjects, up to 1000 keys a request (keys are the scripts' own: no commas, braces or quotes).
for ((i = 0; i < ${#doomed[@]}; i += 1000)); do
    batch="$(printf '{Key=%s},' "${doomed[@]:i:1000}")"
    failed="$(aws_s3 s3api delete-objects --bucket "$S3_BUCKET" --delete "Objects=[${batch%,}],Quiet=true" --query 'Errors[].Key' --output text)"
    if [ -n "$failed" ] && [ "$failed" != None ]; then
        log "could not delete: $failed"
        exit 1
    fi
done
echo "pruned ${#doomed[@]} objects; newest complete backup: $newest"
