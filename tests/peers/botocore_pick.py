"""What botocore (the AWS CLI's library, from the test venv) picks in the environment it runs
in: `python3 botocore_pick.py [SERVICE ...]` prints one JSON object with the credential
`method` (botocore's name for the provider: `env`, `shared-credentials-file`,
`config-file`, `custom-process`, `container-role`, `iam-role`, ...) and the `access_key` it
found, or the `error` it raised; the `region`; and for each SERVICE the endpoint URL a client
would call, or the `config_error` that stopped it. The tests compare cw2mackerel with it on
the same files and variables."""

import json
import sys

import botocore.session


def main():
    out = {}
    session = botocore.session.Session()
    try:
        creds = session.get_credentials()
        if creds is None:
            out["method"] = None
        else:
            out["access_key"] = creds.get_frozen_credentials().access_key
            out["method"] = creds.method
    except Exception as e:  # botocore's errors all say what was wrong
        out["error"] = f"{type(e).__name__}: {e}"
    try:
        out["region"] = session.get_config_variable("region")
        out["endpoints"] = {
            service: session.create_client(
                service, region_name=out["region"] or "us-east-1",
                aws_access_key_id="A", aws_secret_access_key="S",
            ).meta.endpoint_url
            for service in sys.argv[1:]
        }
    except Exception as e:
        out["config_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
