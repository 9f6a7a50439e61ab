package ee.forgr.capacitor_updater;

import android.app.Activity;
import android.os.Build;
import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One phone running the stock plugin: the plugin's own `CapgoUpdater` (unmodified), set up the
 * way `CapacitorUpdaterPlugin.load()` sets it up, with the plugin class's listener hooks
 * recorded instead of forwarded to JavaScript. It lives in the plugin's package only because
 * those hooks are package-private.
 */
public class Device extends CapgoUpdater {

    /** The key under which the plugin class persists the channel a device picked. */
    public static final String DEFAULT_CHANNEL_KEY = "CapacitorUpdater.defaultChannel";

    /** What the plugin told its JavaScript listeners (`downloadFailed`, `updateAvailable`…). */
    public final LinkedBlockingQueue<Map<String, Object>> listenerEvents = new LinkedBlockingQueue<>();

    public final String updateUrl;

    public Device(File root, String baseUrl, String appId, String pluginVersion, String nativeVersion) {
        this(root, baseUrl, appId, pluginVersion, nativeVersion, newLogger());
    }

    private static Logger newLogger() {
        return new Logger("CapgoUpdater", new Logger.Options(System.getenv("UPDRAFT_PLUGIN_LOG") != null));
    }

    private Device(File root, String baseUrl, String appId, String pluginVersion, String nativeVersion, Logger logger) {
        super(logger);
        CryptoCipher.setLogger(logger);
        DownloadService.setLogger(logger);
        DownloadWorkerManager.setLogger(logger);
        this.activity = new Activity(root);
        this.prefs = this.activity.getSharedPreferences("WebViewSettings", Activity.MODE_PRIVATE);
        this.editor = this.prefs.edit();
        this.documentsDir = this.activity.getFilesDir();
        this.noBackupDir = this.activity.getNoBackupFilesDir();
        this.CAP_SERVER_PATH = "serverBasePath";
        this.appId = appId;
        this.pluginVersion = pluginVersion;
        this.versionBuild = nativeVersion;
        this.versionCode = "1";
        this.versionOs = Build.VERSION.RELEASE;
        this.deviceID = UUID.randomUUID().toString();
        this.statsUrl = baseUrl + "/stats";
        this.channelUrl = baseUrl + "/channel_self";
        this.updateUrl = baseUrl + "/updates";
        DownloadService.updateUserAgent(appId, pluginVersion, this.versionOs);
        this.restorePendingStats();
    }

    @Override
    void notifyListeners(final String id, final Map<String, Object> res) {
        Map<String, Object> event = new HashMap<>(res);
        event.put("event", id);
        listenerEvents.add(event);
    }

    /** Waits for the plugin to tell its listeners `name`. */
    public Map<String, Object> awaitListener(String name, long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            long left = deadline - System.nanoTime();
            Map<String, Object> e = left > 0 ? listenerEvents.poll(left, TimeUnit.NANOSECONDS) : null;
            if (e == null || name.equals(e.get("event"))) {
                return e;
            }
        }
    }

    /** The update check, as the plugin's background task makes it. */
    public Map<String, Object> check() throws Exception {
        CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
        this.getLatest(this.updateUrl, null, answer::complete);
        return answer.get(30, TimeUnit.SECONDS);
    }

    /** What the plugin's background task does with an offered bundle: download it in the background and set it as next. */
    public void downloadOffered(Map<String, Object> offer, String url, String checksum) {
        String sessionKey = offer.containsKey("sessionKey") ? String.valueOf(offer.get("sessionKey")) : "";
        this.downloadBackground(url, String.valueOf(offer.get("version")), sessionKey, checksum, null, true);
    }

    /**
     * What the plugin class does with an offer that carries a manifest (delta update): the
     * plugin downloads the files it does not hold. `route` maps each file's URL (through a
     * counting proxy in the tests).
     */
    public void downloadManifest(Map<String, Object> offer, java.util.function.UnaryOperator<String> route) throws org.json.JSONException {
        org.json.JSONArray manifest = (org.json.JSONArray) offer.get("manifest");
        org.json.JSONArray routed = new org.json.JSONArray();
        for (int i = 0; i < manifest.length(); i++) {
            org.json.JSONObject f = new org.json.JSONObject(manifest.getJSONObject(i).toString());
            f.put("download_url", route.apply(f.getString("download_url")));
            routed.put(f);
        }
        String sessionKey = offer.containsKey("sessionKey") ? String.valueOf(offer.get("sessionKey")) : "";
        String checksum = offer.containsKey("checksum") ? String.valueOf(offer.get("checksum")) : "";
        this.downloadBackground(String.valueOf(offer.get("url")), String.valueOf(offer.get("version")), sessionKey, checksum, routed, true);
    }

    /** The next app start: the plugin installs the bundle set as next (`installNext`). */
    public boolean installNext() {
        BundleInfo next = this.getNextBundle();
        if (next == null || next.isErrorStatus() || next.getId().equals(this.getCurrentBundle().getId())) {
            return false;
        }
        if (!this.set(next)) {
            return false;
        }
        this.setNextBundle(null);
        return true;
    }

    /** The app's JavaScript calls `notifyAppReady()`. */
    public void notifyAppReady() {
        this.setSuccess(this.getCurrentBundle(), true);
    }

    /** The folder a downloaded bundle was unpacked into. */
    public File bundleFolder(BundleInfo bundle) {
        return new File(new File(this.documentsDir, "versions"), bundle.getId());
    }

    /** `setChannel` as the plugin class calls it (self-assignment allowed by config). */
    public Map<String, Object> setChannel(String channel) throws Exception {
        CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
        this.setChannel(channel, this.editor, DEFAULT_CHANNEL_KEY, true, "", answer::complete);
        return answer.get(30, TimeUnit.SECONDS);
    }

    public Map<String, Object> getChannel() throws Exception {
        CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
        this.getChannel(answer::complete, this.editor, DEFAULT_CHANNEL_KEY);
        return answer.get(30, TimeUnit.SECONDS);
    }

    public Map<String, Object> unsetChannel() throws Exception {
        CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
        this.unsetChannel(this.editor, DEFAULT_CHANNEL_KEY, "", answer::complete);
        return answer.get(30, TimeUnit.SECONDS);
    }

    public Map<String, Object> channels() throws Exception {
        CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
        this.listChannels(answer::complete);
        return answer.get(30, TimeUnit.SECONDS);
    }
}
