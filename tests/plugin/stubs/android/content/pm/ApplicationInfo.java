package android.content.pm;

public class ApplicationInfo {

    public static final int FLAG_DEBUGGABLE = 1 << 1;
    /** A release build: not debuggable, so the plugin reports `is_prod: true`. */
    public int flags = 0;
}
