#!/usr/bin/env bash
# Creates the two Secrets keyaudit's pods read, from files, so no value is
# ever written into a manifest or committed:
#   keyaudit-store        key "url": the KEYAUDIT_STORE PostgreSQL URL
#   keyaudit-pkcs11-pin   key "pin": the PKCS#11 user PIN, mounted as the file
#                         /run/secrets/keyaudit-pkcs11/pin (mode 0400) and read
#                         through pin-source=file:… — never argv or the environment.
# Usage: create-secrets.sh STORE_URL_FILE PIN_FILE
set -euo pipefail
store_url_file=${1:?usage: create-secrets.sh STORE_URL_FILE PIN_FILE}
pin_file=${2:?usage: create-secrets.sh STORE_URL_FILE PIN_FILE}
kubectl -n keyaudit create secret generic keyaudit-store --from-file=url="$store_url_file"
kubectl -n keyaudit create secret generic keyaudit-pkcs11-pin --from-file=pin="$pin_file"
