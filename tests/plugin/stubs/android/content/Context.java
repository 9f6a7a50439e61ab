package android.content;

import android.content.pm.ApplicationInfo;
import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import java.io.File;

/** A device's app sandbox on the JVM: files, cache and preferences under one folder. */
public class Context {

    public static final int MODE_PRIVATE = 0;

    private final File root;
    private final java.util.Map<String, SharedPreferences> prefs = new java.util.HashMap<>();

    public Context(File root) {
        this.root = root;
        new File(root, "files").mkdirs();
        new File(root, "cache").mkdirs();
        new File(root, "no_backup").mkdirs();
    }

    public Context getApplicationContext() {
        return this;
    }

    public File getFilesDir() {
        return new File(root, "files");
    }

    public File getCacheDir() {
        return new File(root, "cache");
    }

    public File getNoBackupFilesDir() {
        return new File(root, "no_backup");
    }

    /** The builtin bundle: the app's assets folder (`public/` inside it). */
    public AssetManager getAssets() {
        return new AssetManager(new File(root, "assets"));
    }

    public synchronized SharedPreferences getSharedPreferences(String name, int mode) {
        return prefs.computeIfAbsent(name, n -> new SharedPreferences.InMemory());
    }

    public PackageManager getPackageManager() {
        return new PackageManager();
    }

    public String getPackageName() {
        return "dev.updraft.plugintest";
    }

    public ApplicationInfo getApplicationInfo() {
        return new ApplicationInfo();
    }
}
