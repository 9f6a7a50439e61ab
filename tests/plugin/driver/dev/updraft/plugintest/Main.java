package dev.updraft.plugintest;

import ee.forgr.capacitor_updater.BundleInfo;
import ee.forgr.capacitor_updater.BundleStatus;
import ee.forgr.capacitor_updater.Device;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Plays an app's life with the stock plugin's own code against an Updraft server, and prints
 * `N passed, N failed`. Scenarios: `life` (update, stats, channels, a refused checksum, a
 * resumed download) and `rate-limit` (against a server with a small per-device limit).
 *
 * The server, its app, channels and bundles are prepared by the caller (tests/plugin.rs) and
 * named in the environment: UPDRAFT_URL, UPDRAFT_KEY, UPDRAFT_APP, UPDRAFT_PLUGIN_VERSION,
 * UPDRAFT_VERSION and UPDRAFT_BUNDLE_DIR (the public channel's bundle and the folder it was
 * built from), UPDRAFT_BETA_CHANNEL and UPDRAFT_BETA_VERSION (a channel devices may pick),
 * UPDRAFT_PLUGIN_WORK (where each phone's files go).
 */
public final class Main {

    private int passed;
    private int failed;
    private final String url = env("UPDRAFT_URL");
    private final String app = env("UPDRAFT_APP");
    private final String pluginVersion = env("UPDRAFT_PLUGIN_VERSION");
    private final File work = new File(env("UPDRAFT_PLUGIN_WORK"));
    private final Api api = new Api(url, env("UPDRAFT_KEY"), app);
    private int phones;

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalStateException(name + " is not set");
        }
        return v;
    }

    interface Check {
        String run() throws Exception;
    }

    /** Runs one check: null means it held, anything else says what was wrong. */
    private boolean check(String name, Check c) {
        String problem;
        try {
            problem = c.run();
        } catch (Exception | AssertionError e) {
            problem = e.toString();
        }
        if (problem == null) {
            passed++;
            System.out.println("ok   " + name);
            return true;
        }
        failed++;
        System.out.println("FAIL " + name + ": " + problem);
        return false;
    }

    private Device phone() {
        phones++;
        return new Device(new File(work, "phone-" + phones), url, app, pluginVersion, "1.0.0");
    }

    private static String expect(boolean ok, String problem) {
        return ok ? null : problem;
    }

    static String sha256(byte[] bytes) throws Exception {
        StringBuilder hex = new StringBuilder();
        for (byte b : MessageDigest.getInstance("SHA-256").digest(bytes)) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    /** Relative path → SHA-256 of every file under a folder. */
    static Map<String, String> tree(File root) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root.toPath())) {
            for (Path p : (Iterable<Path>) walk.filter(Files::isRegularFile)::iterator) {
                out.put(root.toPath().relativize(p).toString(), sha256(Files.readAllBytes(p)));
            }
        }
        return out;
    }

    private String sameFiles(File got) throws Exception {
        return sameFilesAs(new File(env("UPDRAFT_BUNDLE_DIR")), got);
    }

    private static String sameFilesAs(File dir, File got) throws Exception {
        Map<String, String> want = tree(dir);
        Map<String, String> have = tree(got);
        return expect(want.equals(have), "unpacked " + have.keySet() + ", uploaded " + want.keySet() + " (or bytes differ)");
    }

    private void life() throws Exception {
        final String version = env("UPDRAFT_VERSION");
        final String beta = env("UPDRAFT_BETA_CHANNEL");
        final String betaVersion = env("UPDRAFT_BETA_VERSION");

        // A phone that updates, reports, and moves between channels.
        Device d = phone();
        check("a new install runs the builtin bundle", () -> expect(d.getCurrentBundle().isBuiltin(), "current is " + d.getCurrentBundle()));
        final Map<String, Object>[] offer = new Map[1];
        check("the update check offers the public channel's bundle", () -> {
            offer[0] = d.check();
            Object checksum = offer[0].get("checksum");
            return expect(
                version.equals(offer[0].get("version")) &&
                !offer[0].containsKey("error") &&
                String.valueOf(offer[0].get("url")).startsWith("http") &&
                String.valueOf(checksum).matches("[0-9a-f]{64}"),
                "answer " + offer[0]
            );
        });
        check("the plugin downloads, checks and unzips it in the background, and sets it as next", () -> {
            d.downloadOffered(offer[0], String.valueOf(offer[0].get("url")), String.valueOf(offer[0].get("checksum")));
            // The plugin tells `updateAvailable` once unzipped, then `setNext` once set as next.
            if (d.awaitListener("updateAvailable", 60) == null || d.awaitListener("setNext", 10) == null) {
                return "no updateAvailable then setNext; listeners heard " + d.listenerEvents;
            }
            BundleInfo next = d.getNextBundle();
            return expect(next != null && version.equals(next.getVersionName()) && next.getStatus() == BundleStatus.PENDING, "next is " + next);
        });
        check("the unpacked bundle is byte for byte the uploaded folder", () -> sameFiles(d.bundleFolder(d.getNextBundle())));
        check("the next start installs it (set)", () -> {
            boolean installed = d.installNext();
            return expect(installed && version.equals(d.getCurrentBundle().getVersionName()), "current is " + d.getCurrentBundle());
        });
        check("notifyAppReady() marks it successful", () -> {
            d.notifyAppReady();
            return expect(d.getCurrentBundle().getStatus() == BundleStatus.SUCCESS, "status " + d.getCurrentBundle().getStatus());
        });
        check("the plugin's batched stats reach the device's log (download, set_next, set)", () -> {
            for (String action : new String[] { "download_zip_complete", "set_next", "set" }) {
                if (api.awaitEvent(d.deviceID, action, version, 20) == null) {
                    return "no " + action + " for " + version + " in " + api.events(d.deviceID);
                }
            }
            return null;
        });
        check("the next check answers up to date", () -> {
            Map<String, Object> again = d.check();
            return expect("up_to_date".equals(again.get("kind")) && "no_new_version_available".equals(again.get("error")), "answer " + again);
        });
        check("listChannels shows the channel devices may pick", () -> {
            Map<String, Object> res = d.channels();
            Object list = res.get("channels");
            return expect(list != null && list.toString().contains("name=" + beta) && list.toString().contains("allow_self_set=true"), "answer " + res);
        });
        check("setChannel picks it, and the plugin keeps the choice", () -> {
            Map<String, Object> res = d.setChannel(beta);
            return expect("ok".equals(res.get("status")) && beta.equals(d.defaultChannel), "answer " + res + ", defaultChannel " + d.defaultChannel);
        });
        check("getChannel reports the picked channel", () -> {
            Map<String, Object> res = d.getChannel();
            return expect(beta.equals(res.get("channel")), "answer " + res);
        });
        check("the next check offers the picked channel's bundle", () -> {
            Map<String, Object> res = d.check();
            return expect(betaVersion.equals(res.get("version")) && !res.containsKey("error"), "answer " + res);
        });
        check("unsetChannel goes back to the public channel", () -> {
            Map<String, Object> res = d.unsetChannel();
            Map<String, Object> again = d.check();
            return expect(
                "ok".equals(res.get("status")) && "".equals(d.defaultChannel) && "no_new_version_available".equals(again.get("error")),
                "unset " + res + ", then " + again
            );
        });

        // A phone whose download does not match the checksum the server announced.
        Device bad = phone();
        check("a bundle that does not match its checksum is refused, and the phone stays on builtin", () -> {
            Map<String, Object> o = bad.check();
            bad.downloadOffered(o, String.valueOf(o.get("url")), sha256("not this bundle".getBytes()));
            // `downloadFailed` twice: from the checksum check, then from the download's
            // observer once it has marked the bundle failed (`finish_download_fail`).
            Map<String, Object> failed;
            do {
                failed = bad.awaitListener("downloadFailed", 60);
            } while (failed != null && !"finish_download_fail".equals(failed.get("error")));
            if (failed == null) {
                return "no downloadFailed with finish_download_fail; listeners heard " + bad.listenerEvents;
            }
            // The plugin keeps the failed bundle's record (status error) and no files of it.
            BundleInfo b = null;
            for (BundleInfo i : bad.list(true)) {
                if (version.equals(i.getVersionName())) {
                    b = i;
                }
            }
            return expect(
                b != null &&
                b.isErrorStatus() &&
                bad.list(false).isEmpty() &&
                bad.getCurrentBundle().isBuiltin() &&
                bad.getNextBundle() == null,
                "record " + b + ", unpacked " + bad.list(false) + ", current " + bad.getCurrentBundle()
            );
        });
        check("checksum_fail reaches the log, charged (as the plugin does) to the running bundle", () -> {
            String running = bad.getCurrentBundle().getVersionName();
            return expect(api.awaitEvent(bad.deviceID, "checksum_fail", running, 20) != null, "events " + api.events(bad.deviceID));
        });

        // A phone whose connection drops half way through the download.
        Device flaky = phone();
        check("a download cut half way resumes with Range (206) and completes", () -> {
            Map<String, Object> o = flaky.check();
            URI zip = URI.create(String.valueOf(o.get("url")));
            try (CuttingProxy proxy = new CuttingProxy(zip, 4096)) {
                flaky.downloadOffered(o, proxy.via(zip), String.valueOf(o.get("checksum")));
                if (flaky.awaitListener("updateAvailable", 60) == null || flaky.awaitListener("setNext", 10) == null) {
                    return "no updateAvailable; listeners heard " + flaky.listenerEvents + ", storage saw " + proxy.exchanges;
                }
                List<CuttingProxy.Exchange> seen = new ArrayList<>(proxy.exchanges);
                if (seen.size() < 2 || seen.get(0).range != null || !"bytes=4096-".equals(seen.get(1).range) || seen.get(1).status != 206) {
                    return "storage saw " + seen;
                }
            }
            return sameFiles(flaky.bundleFolder(flaky.getNextBundle()));
        });
    }

    /**
     * An end-to-end encrypted bundle (uploaded with `updraft bundle upload` for the key in
     * UPDRAFT_PUBLIC_KEY): the plugin's own CryptoCipher decrypts the session key and the
     * checksum with the public key, decrypts and verifies the download, and unzips it; a phone
     * carrying another public key (UPDRAFT_OTHER_PUBLIC_KEY) is told its key does not match.
     */
    private void encrypted() throws Exception {
        final String version = env("UPDRAFT_VERSION");
        Device d = phone();
        d.setPublicKey(env("UPDRAFT_PUBLIC_KEY"));
        final Map<String, Object>[] offer = new Map[1];
        check("the update check offers the encrypted bundle with its session key and encrypted checksum", () -> {
            offer[0] = d.check();
            return expect(
                version.equals(offer[0].get("version")) &&
                String.valueOf(offer[0].get("sessionKey")).contains(":") &&
                String.valueOf(offer[0].get("checksum")).matches("[0-9a-f]{512}"),
                "answer " + offer[0]
            );
        });
        check("the plugin decrypts it with the public key, verifies the checksum and unzips it", () -> {
            d.downloadOffered(offer[0], String.valueOf(offer[0].get("url")), String.valueOf(offer[0].get("checksum")));
            if (d.awaitListener("updateAvailable", 60) == null || d.awaitListener("setNext", 10) == null) {
                return "no updateAvailable then setNext; listeners heard " + d.listenerEvents;
            }
            BundleInfo next = d.getNextBundle();
            return expect(next != null && version.equals(next.getVersionName()), "next is " + next);
        });
        check("the decrypted bundle is byte for byte the uploaded folder", () -> sameFiles(d.bundleFolder(d.getNextBundle())));
        check("the next start installs it", () -> {
            boolean installed = d.installNext();
            return expect(installed && version.equals(d.getCurrentBundle().getVersionName()), "current is " + d.getCurrentBundle());
        });
        Device delta = phone();
        delta.setPublicKey(env("UPDRAFT_PUBLIC_KEY"));
        check("through its manifest, each file is decrypted with the session key, decompressed and checked against its decrypted hash", () -> {
            Map<String, Object> o = delta.check();
            if (!(o.get("manifest") instanceof org.json.JSONArray)) {
                return "no manifest: " + o;
            }
            String hash = ((org.json.JSONArray) o.get("manifest")).getJSONObject(0).getString("file_hash");
            if (!hash.matches("[0-9a-f]{512}")) {
                return "file_hash is not an encrypted checksum: " + hash;
            }
            delta.downloadManifest(o, u -> u);
            if (delta.awaitListener("updateAvailable", 60) == null || delta.awaitListener("setNext", 10) == null) {
                return "no updateAvailable then setNext; listeners heard " + delta.listenerEvents;
            }
            return sameFiles(delta.bundleFolder(delta.getNextBundle()));
        });
        Device other = phone();
        other.setPublicKey(env("UPDRAFT_OTHER_PUBLIC_KEY"));
        check("a phone with another public key is told its key does not match", () -> {
            Map<String, Object> res = other.check();
            return expect("key_id_mismatch".equals(res.get("error")), "answer " + res);
        });
    }

    /**
     * Delta updates: the public channel's bundle and the picked channel's share all files but
     * UPDRAFT_CHANGED_FILES; both carry a manifest. A phone installs the first from its
     * manifest (every file), then the second, downloading only the files it lacks; the
     * plugin decompresses `.br` files and checks each file's hash.
     */
    private void delta() throws Exception {
        final String version = env("UPDRAFT_VERSION");
        final String beta = env("UPDRAFT_BETA_CHANNEL");
        final String betaVersion = env("UPDRAFT_BETA_VERSION");
        final int changed = Integer.parseInt(env("UPDRAFT_CHANGED_FILES"));
        Device d = phone();
        final Map<String, Object>[] offer = new Map[1];
        check("the update check offers a manifest to a plugin that supports it", () -> {
            offer[0] = d.check();
            Object m = offer[0].get("manifest");
            return expect(version.equals(offer[0].get("version")) && m instanceof org.json.JSONArray && ((org.json.JSONArray) m).length() > 2, "answer " + offer[0]);
        });
        check("a first install downloads every file of the manifest and unpacks the bundle", () -> {
            URI any = URI.create(((org.json.JSONArray) offer[0].get("manifest")).getJSONObject(0).getString("download_url"));
            try (CuttingProxy storage = new CuttingProxy(any, Long.MAX_VALUE)) {
                d.downloadManifest(offer[0], u -> storage.via(URI.create(u)));
                if (d.awaitListener("updateAvailable", 60) == null || d.awaitListener("setNext", 10) == null) {
                    return "no updateAvailable then setNext; listeners heard " + d.listenerEvents;
                }
                int files = ((org.json.JSONArray) offer[0].get("manifest")).length();
                if (storage.exchanges.size() != files) {
                    return files + " files, storage saw " + storage.exchanges;
                }
            }
            return sameFiles(d.bundleFolder(d.getNextBundle()));
        });
        check("it installs", () -> {
            boolean installed = d.installNext();
            d.notifyAppReady();
            return expect(installed && version.equals(d.getCurrentBundle().getVersionName()), "current is " + d.getCurrentBundle());
        });
        check("the next version downloads only the files that changed", () -> {
            d.setChannel(beta);
            Map<String, Object> next = d.check();
            if (!betaVersion.equals(next.get("version")) || !(next.get("manifest") instanceof org.json.JSONArray)) {
                return "answer " + next;
            }
            URI any = URI.create(((org.json.JSONArray) next.get("manifest")).getJSONObject(0).getString("download_url"));
            try (CuttingProxy storage = new CuttingProxy(any, Long.MAX_VALUE)) {
                d.downloadManifest(next, u -> storage.via(URI.create(u)));
                if (d.awaitListener("updateAvailable", 60) == null || d.awaitListener("setNext", 10) == null) {
                    return "no updateAvailable then setNext; listeners heard " + d.listenerEvents;
                }
                if (storage.exchanges.size() != changed) {
                    return changed + " files changed, storage saw " + storage.exchanges.size() + ": " + storage.exchanges;
                }
            }
            return sameFilesAs(new File(env("UPDRAFT_BETA_DIR")), d.bundleFolder(d.getNextBundle()));
        });
    }

    private void rateLimit() throws Exception {
        Device d = phone();
        check("past the server's limit the plugin reads 429 too_many_requests", () -> {
            for (int i = 0; i < 500; i++) {
                Map<String, Object> res = d.check();
                if (Integer.valueOf(429).equals(res.get("statusCode"))) {
                    return expect("too_many_requests".equals(res.get("error")), "answer " + res);
                }
            }
            return "500 checks and no 429";
        });
        check("until Retry-After has passed, the plugin holds its checks back on the phone", () -> {
            Map<String, Object> res = d.check();
            return expect("too_many_requests".equals(res.get("error")) && !res.containsKey("statusCode"), "answer " + res);
        });
        check("after Retry-After the phone checks with the server again", () -> {
            // Held back on the phone until the window passes, then answered by the server.
            long deadline = System.currentTimeMillis() + 15_000;
            Map<String, Object> res;
            do {
                Thread.sleep(500);
                res = d.check();
            } while (!res.containsKey("statusCode") && System.currentTimeMillis() < deadline);
            return expect(!"too_many_requests".equals(res.get("error")) && res.containsKey("statusCode"), "answer " + res);
        });
    }

    public static void main(String[] args) throws Exception {
        Main m = new Main();
        String scenario = args.length > 0 ? args[0] : "life";
        switch (scenario) {
            case "life":
                m.life();
                break;
            case "rate-limit":
                m.rateLimit();
                break;
            case "encrypted":
                m.encrypted();
                break;
            case "delta":
                m.delta();
                break;
            default:
                System.err.println("unknown scenario " + scenario + " (life, rate-limit, encrypted, delta)");
                System.exit(2);
        }
        System.out.println(m.passed + " passed, " + m.failed + " failed");
        System.exit(m.failed == 0 ? 0 : 1);
    }
}
