package android.content.res;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/** The APK's assets, read from a folder. */
public class AssetManager {

    private final File root;

    public AssetManager(File root) {
        this.root = root;
    }

    public InputStream open(String path) throws IOException {
        return new FileInputStream(new File(root, path));
    }

    public String[] list(String path) throws IOException {
        String[] names = new File(root, path).list();
        return names == null ? new String[0] : names;
    }
}
