package android.content.pm;

public class PackageManager {

    public static class NameNotFoundException extends Exception {}

    public static final class PackageInfoFlags {

        public static PackageInfoFlags of(long flags) {
            return new PackageInfoFlags();
        }
    }

    public PackageInfo getPackageInfo(String packageName, PackageInfoFlags flags) throws NameNotFoundException {
        return getPackageInfo(packageName, 0);
    }

    public PackageInfo getPackageInfo(String packageName, int flags) throws NameNotFoundException {
        PackageInfo info = new PackageInfo();
        info.packageName = packageName;
        return info;
    }

    public InstallSourceInfo getInstallSourceInfo(String packageName) {
        return new InstallSourceInfo();
    }

    public String getInstallerPackageName(String packageName) {
        return "com.android.vending";
    }
}
