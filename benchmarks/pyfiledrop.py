"""The tutorial's pyfiledrop server, reconstructed from its text, as the peer the drop benchmark measures.

Bottle + Paste, its upload and download functions as the tutorial wrote them, defects included (the upload id
is used as a path, a retried chunk is counted twice, chunks are joined in memory one by one). Changed only what
stops it running here: the page (which loads Dropzone from a CDN) is left out, since the benchmark drives the
upload protocol directly, and the storage folders come from the command line.

    python benchmarks/pyfiledrop.py --port 16274 -s STORAGE -c CHUNKS
"""

import argparse
import shutil
import uuid
from collections import defaultdict
from pathlib import Path
from threading import Lock

from bottle import HTTPError, request, route, run, static_file
from werkzeug.utils import secure_filename

lock = Lock()
chucks = defaultdict(list)
chunk_path = Path("chunks")
storage_path = Path("storage")


@route("/upload", method="POST")
def upload():
    file = request.files.get("file")
    if not file:
        raise HTTPError(status=400, body="No file provided")

    dz_uuid = request.forms.get("dzuuid")
    if not dz_uuid:
        # Assume this file has not been chunked
        with open(storage_path / f"{uuid.uuid4()}_{secure_filename(file.filename)}", "wb") as f:
            file.save(f)
        return "File Saved"

    # Chunked download
    try:
        current_chunk = int(request.forms["dzchunkindex"])
        total_chunks = int(request.forms["dztotalchunkcount"])
    except KeyError as err:
        raise HTTPError(status=400, body=f"Not all required fields supplied, missing {err}") from None
    except ValueError:
        raise HTTPError(status=400, body="Values provided were not in expected format") from None

    save_dir = chunk_path / dz_uuid
    if not save_dir.exists():
        save_dir.mkdir(exist_ok=True, parents=True)

    with open(save_dir / str(request.forms["dzchunkindex"]), "wb") as f:
        file.save(f)

    with lock:
        chucks[dz_uuid].append(current_chunk)
        completed = len(chucks[dz_uuid]) == total_chunks

    if completed:
        with open(storage_path / f"{dz_uuid}_{secure_filename(file.filename)}", "wb") as f:
            for file_number in range(total_chunks):
                f.write((save_dir / str(file_number)).read_bytes())
        print(f"{file.filename} has been uploaded")
        shutil.rmtree(save_dir)

    return "Chunk upload successful"


@route("/download/<dz_uuid>")
def download(dz_uuid):
    for file in storage_path.iterdir():
        if file.is_file() and file.name.startswith(dz_uuid):
            return static_file(file.name, root=file.parent.absolute(), download=True)
    return HTTPError(status=404)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-p", "--port", type=int, default=16273)
    parser.add_argument("--host", type=str, default="127.0.0.1")
    parser.add_argument("-s", "--storage", type=str, default=str(storage_path))
    parser.add_argument("-c", "--chunks", type=str, default=str(chunk_path))
    args = parser.parse_args()
    storage_path = Path(args.storage)
    chunk_path = Path(args.chunks)
    storage_path.mkdir(exist_ok=True, parents=True)
    chunk_path.mkdir(exist_ok=True, parents=True)
    run(server="paste", port=args.port, host=args.host, quiet=True)
